-- The last message of a conversation is the one at its last_seq (found
-- through uq_conv_seq); keeping its id in conversations as well cost every
-- send one more UPDATE of the conversation row.
ALTER TABLE conversations DROP COLUMN IF EXISTS last_message_id;

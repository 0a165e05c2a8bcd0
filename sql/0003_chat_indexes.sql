-- Indexes for the chat queries (lib/db/convs.c, lib/db/msgs.c).

-- Unread counts (others' live messages after my read mark) are answered from
-- this index alone, without visiting the rows: a long unread tail in a busy
-- group costs index entries, not row lookups.
ALTER TABLE messages ADD KEY IF NOT EXISTS ix_conv_seq_sender (conversation_id, seq, sender_id, deleted_at);

-- Unread counts (others' live messages after my read mark, lines of group
-- activity not counted: lib/db/convs.c) filter on kind as well: with kind
-- in the index they are answered from it alone, as 0003 meant them to be,
-- and a long unread tail in a busy group costs no row lookups. The new
-- index first, then the old one (its prefix) goes.
ALTER TABLE messages ADD KEY IF NOT EXISTS ix_unread (conversation_id, seq, sender_id, deleted_at, kind);
ALTER TABLE messages DROP KEY IF EXISTS ix_conv_seq_sender;

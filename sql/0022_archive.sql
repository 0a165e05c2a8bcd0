-- Archived chats: a personal mark beside pinned_at. A conversation is in
-- my archive while archived_seq is set and no message came after it (the
-- conversation's last seq when I archived it, read under its row lock:
-- a send waiting for that lock takes a later seq). Lines of group activity
-- (renames, members) do not count. A new message thus brings it back to my
-- list with no write on the send path (lib/db/convs.c).
ALTER TABLE members ADD COLUMN IF NOT EXISTS archived_seq BIGINT UNSIGNED NULL AFTER marked_unread;

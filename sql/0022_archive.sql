-- Archived chats: a personal mark beside pinned_at. A conversation is in
-- my archive while archived_at is set and nothing happened in it since
-- (c.last_activity_at <= m.archived_at): a new message brings it back to
-- my list with no write on the send path (lib/db/convs.c).
ALTER TABLE members ADD COLUMN IF NOT EXISTS archived_at DATETIME(3) NULL AFTER marked_unread;

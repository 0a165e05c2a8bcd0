-- Personal marks on a conversation, beside muted_until: pinned to the top
-- of my list (at most 5: lib/chat/conv.c), and marked as unread by hand
-- (until I read it: POST .../read clears it). GET /conversations lists the
-- pinned ones first (lib/db/convs.c).
ALTER TABLE members ADD COLUMN IF NOT EXISTS pinned_at DATETIME(3) NULL AFTER muted_until;
ALTER TABLE members ADD COLUMN IF NOT EXISTS marked_unread TINYINT(1) NOT NULL DEFAULT 0 AFTER pinned_at;
-- A member's pins are counted (the limit) from this index alone.
ALTER TABLE members ADD KEY IF NOT EXISTS ix_user_pinned (user_id, pinned_at);

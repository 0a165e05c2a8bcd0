-- Creating a group is idempotent by an optional client_id, as sending is:
-- a retry (a lost answer, a second click) with the same client_id answers
-- the group the first attempt created instead of creating a second one.
-- Unique per creator; NULL (no client_id) never collides.
ALTER TABLE conversations
	ADD COLUMN IF NOT EXISTS client_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL AFTER created_by,
	ADD UNIQUE KEY IF NOT EXISTS uq_creator_client (created_by, client_id);

-- The sweeper deletes sessions that expired or were ended a day ago, and
-- refresh tokens rotated a week ago, every minute (lib/db/sweep.c):
-- without indexes on those times each delete read, and locked, the whole
-- table, and refreshes and logins waited for it.
ALTER TABLE sessions ADD KEY IF NOT EXISTS ix_expires (expires_at),
	ADD KEY IF NOT EXISTS ix_revoked (revoked_at);
ALTER TABLE refresh_tokens ADD KEY IF NOT EXISTS ix_superseded (superseded_at);

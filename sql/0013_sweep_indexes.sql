-- The sweeper deletes rate-limit windows by age every minute
-- (lib/db/sweep.c): without an index on the age each batch read the whole
-- table.
ALTER TABLE rate_limits ADD KEY IF NOT EXISTS ix_window_start (window_start);

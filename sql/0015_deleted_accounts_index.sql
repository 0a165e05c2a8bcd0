-- An account deletion leaves the account's groups after the deletion
-- commits (lib/auth/handlers.c); what it could not leave then (the
-- database went away in between, or an add crossed the deletion) the
-- sweeper leaves for it, finding the accounts deleted in the last week that
-- are still group members by this index.
ALTER TABLE users ADD KEY IF NOT EXISTS ix_deleted (deleted_at);

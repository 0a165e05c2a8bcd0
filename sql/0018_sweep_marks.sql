-- Where the sweeper's pass over the event log for typing and presence
-- events has got to (lib/db/events.c, events_prune_ephemeral). The pass
-- deletes them from its mark up to the ephemeral limit in slices of a
-- minute, moving the mark after each: a run reads the part of the log that
-- came since the run before. Without the mark every run read six hours of
-- the log (every event of them, through ix_created) to find one minute's
-- typing events.
CREATE TABLE IF NOT EXISTS sweep_marks (
	name VARCHAR(32) CHARACTER SET ascii NOT NULL PRIMARY KEY,
	at DATETIME(3) NOT NULL
) ENGINE=InnoDB;

-- 0005: the events a run's notification hooks sent (delivered or not), so
-- that each fires once per run attempt, also across rbflow resume. The
-- webhook URL, a secret, is not kept: a hook is known by its place in the
-- procedure's notifications.

CREATE TABLE notifications (
	run_id     TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	generation INTEGER NOT NULL,
	hook       INTEGER NOT NULL,
	event      TEXT NOT NULL,
	status     INTEGER NOT NULL,
	error      TEXT NOT NULL DEFAULT '',
	sent_at    INTEGER NOT NULL,
	PRIMARY KEY (run_id, generation, hook, event)
) STRICT;

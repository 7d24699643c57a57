-- 0004: who did what, and where (SPEC §3): runs and step attempts record
-- the user and host; answers record who gave them, when and how; the
-- questions prompt steps ask are kept, so that rbflow answer can check an
-- answer given from another shell before it records it.

ALTER TABLE runs ADD COLUMN user TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT '';

ALTER TABLE steps ADD COLUMN user TEXT NOT NULL DEFAULT '';
ALTER TABLE steps ADD COLUMN host TEXT NOT NULL DEFAULT '';

-- Answers from before this version were given with --answer.
ALTER TABLE answers ADD COLUMN source TEXT NOT NULL DEFAULT 'answer';
ALTER TABLE answers ADD COLUMN user TEXT NOT NULL DEFAULT '';
ALTER TABLE answers ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE answers ADD COLUMN via TEXT NOT NULL DEFAULT '';
ALTER TABLE answers ADD COLUMN answered_at INTEGER;

CREATE TABLE questions (
	run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step_id       TEXT NOT NULL,
	text          TEXT NOT NULL,
	type          TEXT NOT NULL,
	choices_json  TEXT NOT NULL,
	default_value TEXT NOT NULL,
	asked_at      INTEGER NOT NULL,
	until_at      INTEGER,
	place         TEXT NOT NULL,
	PRIMARY KEY (run_id, step_id)
) STRICT;

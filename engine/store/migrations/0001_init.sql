-- 0001: runs, steps and the tables later features keep their records in.
-- Times are unix nanoseconds (NULL for "not yet"); maps and lists are JSON.

CREATE TABLE runs (
	id          TEXT NOT NULL PRIMARY KEY,
	procedure   TEXT NOT NULL,
	source      TEXT NOT NULL,
	source_path TEXT NOT NULL,
	hash        TEXT NOT NULL,
	params_json TEXT NOT NULL,
	repo        TEXT NOT NULL,
	state_dir   TEXT NOT NULL,
	status      TEXT NOT NULL,
	started_at  INTEGER,
	ended_at    INTEGER,
	parent_run  TEXT NOT NULL,
	parent_step TEXT NOT NULL,
	target_ns   INTEGER NOT NULL,
	generation  INTEGER NOT NULL,
	failed_step TEXT NOT NULL,
	owner_pid   INTEGER NOT NULL,
	owner_start INTEGER NOT NULL
) STRICT;

CREATE INDEX runs_by_repo ON runs (repo, started_at DESC, id DESC);
CREATE INDEX runs_by_start ON runs (started_at DESC, id DESC);

CREATE TABLE steps (
	run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step_id      TEXT NOT NULL,
	seq          INTEGER NOT NULL,
	section      TEXT NOT NULL,
	status       TEXT NOT NULL,
	outcome      TEXT NOT NULL,
	conclusion   TEXT NOT NULL,
	started_at   INTEGER,
	ended_at     INTEGER,
	exit_code    INTEGER NOT NULL,
	attempts     INTEGER NOT NULL,
	outputs_json TEXT NOT NULL,
	error        TEXT NOT NULL,
	def_hash     TEXT NOT NULL,
	pid          INTEGER NOT NULL,
	pid_start    INTEGER NOT NULL,
	tail         TEXT NOT NULL,
	log_path     TEXT NOT NULL,
	PRIMARY KEY (run_id, step_id)
) STRICT;

CREATE INDEX steps_by_seq ON steps (run_id, seq);

CREATE TABLE snapshots (
	id           INTEGER PRIMARY KEY,
	run_id       TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step_id      TEXT NOT NULL,
	ref          TEXT NOT NULL,
	commit_sha   TEXT NOT NULL,
	created_at   INTEGER,
	skipped_json TEXT NOT NULL
) STRICT;

CREATE INDEX snapshots_by_run ON snapshots (run_id, id);

-- A service may outlive the run that started it, so run_id is not a foreign key.
CREATE TABLE services (
	repo       TEXT NOT NULL,
	name       TEXT NOT NULL,
	pid        INTEGER NOT NULL,
	pid_start  INTEGER NOT NULL,
	boot_id    TEXT NOT NULL,
	command    TEXT NOT NULL,
	dir        TEXT NOT NULL,
	log_path   TEXT NOT NULL,
	run_id     TEXT NOT NULL,
	started_at INTEGER,
	stopped_at INTEGER,
	PRIMARY KEY (repo, name)
) STRICT;

-- Metrics records; run_id may be empty for events outside a run.
CREATE TABLE events (
	id         INTEGER PRIMARY KEY,
	run_id     TEXT NOT NULL,
	kind       TEXT NOT NULL,
	data_json  TEXT NOT NULL,
	created_at INTEGER
) STRICT;

CREATE INDEX events_by_kind ON events (kind, id);

CREATE TABLE checklist (
	run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	item    TEXT NOT NULL,
	done    INTEGER NOT NULL,
	done_at INTEGER,
	note    TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (run_id, item)
) STRICT;

CREATE TABLE answers (
	run_id  TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
	step_id TEXT NOT NULL,
	value   TEXT NOT NULL,
	PRIMARY KEY (run_id, step_id)
) STRICT;

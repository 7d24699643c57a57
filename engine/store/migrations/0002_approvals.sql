-- 0002: procedures from a repository approved on this machine (SPEC §14),
-- with the text that was approved, so that the next approval shows what
-- changed since.

CREATE TABLE approvals (
	path        TEXT NOT NULL,
	hash        TEXT NOT NULL,
	text        TEXT NOT NULL,
	approved_at INTEGER NOT NULL,
	PRIMARY KEY (path, hash)
) STRICT;

CREATE INDEX approvals_by_time ON approvals (path, approved_at DESC);

-- 0003: the undo run that undid a run (rbflow undo), so that the run is
-- shown as undone and is no longer resumed or retried; cleared when that
-- undo is itself undone.

ALTER TABLE runs ADD COLUMN undone_by TEXT NOT NULL DEFAULT '';

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// SaveSnapshot records a snapshot. The run must exist.
func (s *Store) SaveSnapshot(ctx context.Context, snap engine.Snapshot) error {
	skipped, err := encodeList(snap.Skipped)
	if err != nil {
		return fmt.Errorf("save snapshot %s: %w", snap.Ref, err)
	}
	if snap.CreatedAt.IsZero() {
		snap.CreatedAt = time.Now()
	}
	err = s.durableTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO snapshots
			(run_id, step_id, ref, commit_sha, created_at, skipped_json) VALUES (?, ?, ?, ?, ?, ?)`,
			snap.RunID, snap.StepID, snap.Ref, snap.Commit, toNanos(snap.CreatedAt), skipped)
		return err
	})
	if err != nil {
		return fmt.Errorf("save snapshot %s of run %s: %w", snap.Ref, snap.RunID, err)
	}
	return nil
}

// DeleteSnapshots forgets the snapshots of a run.
func (s *Store) DeleteSnapshots(ctx context.Context, runID string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE run_id = ?`, runID)
		return err
	})
	if err != nil {
		return fmt.Errorf("forget the snapshots of run %s: %w", runID, err)
	}
	return nil
}

// Snapshots returns the snapshots of a run (of all runs when runID is ""),
// oldest first.
func (s *Store) Snapshots(ctx context.Context, runID string) ([]engine.Snapshot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, step_id, ref, commit_sha, created_at, skipped_json
		FROM snapshots WHERE ?1 = '' OR run_id = ?1 ORDER BY id`, runID)
	if err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	defer rows.Close()
	var snaps []engine.Snapshot
	for rows.Next() {
		var (
			snap    engine.Snapshot
			created sql.NullInt64
			skipped string
		)
		if err := rows.Scan(&snap.RunID, &snap.StepID, &snap.Ref, &snap.Commit, &created, &skipped); err != nil {
			return nil, fmt.Errorf("list snapshots: %w", err)
		}
		if snap.Skipped, err = decodeList(skipped); err != nil {
			return nil, fmt.Errorf("list snapshots: decode %s: %w", snap.Ref, err)
		}
		snap.CreatedAt = fromNanos(created)
		snaps = append(snaps, snap)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list snapshots: %w", err)
	}
	return snaps, nil
}

const serviceColumns = `repo, name, pid, pid_start, boot_id, command, dir, log_path, run_id, started_at, stopped_at`

// SaveService inserts or replaces the record of a service.
func (s *Store) SaveService(ctx context.Context, svc engine.Service) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO services (`+serviceColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			svc.Repo, svc.Name, svc.PID, int64(svc.PIDStart), svc.BootID, svc.Command, svc.Dir,
			svc.LogPath, svc.RunID, toNanos(svc.StartedAt), toNanos(svc.StoppedAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("save service %s: %w", svc.Name, err)
	}
	return nil
}

// Service returns the record of a service; an error wrapping
// engine.ErrNotFound if there is none.
func (s *Store) Service(ctx context.Context, repo, name string) (*engine.Service, error) {
	svc, err := scanService(s.db.QueryRowContext(ctx, `SELECT `+serviceColumns+`
		FROM services WHERE repo = ? AND name = ?`, repo, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("service %q: %w", name, engine.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("service %s: %w", name, err)
	}
	return svc, nil
}

// Services lists the services of a repository (of all repositories when
// repo is ""), by repository and name.
func (s *Store) Services(ctx context.Context, repo string) ([]*engine.Service, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+serviceColumns+`
		FROM services WHERE ?1 = '' OR repo = ?1 ORDER BY repo, name`, repo)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	defer rows.Close()
	var svcs []*engine.Service
	for rows.Next() {
		svc, err := scanService(rows)
		if err != nil {
			return nil, fmt.Errorf("list services: %w", err)
		}
		svcs = append(svcs, svc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	return svcs, nil
}

func scanService(sc scanner) (*engine.Service, error) {
	var (
		svc              engine.Service
		pidStart         int64
		started, stopped sql.NullInt64
	)
	err := sc.Scan(&svc.Repo, &svc.Name, &svc.PID, &pidStart, &svc.BootID, &svc.Command, &svc.Dir,
		&svc.LogPath, &svc.RunID, &started, &stopped)
	if err != nil {
		return nil, err
	}
	svc.PIDStart = uint64(pidStart)
	svc.StartedAt = fromNanos(started)
	svc.StoppedAt = fromNanos(stopped)
	return &svc, nil
}

// MarkServiceStopped records that a service stopped at the given time; an
// error wrapping engine.ErrNotFound if there is no such service.
func (s *Store) MarkServiceStopped(ctx context.Context, repo, name string, at time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, `UPDATE services SET stopped_at = ? WHERE repo = ? AND name = ?`,
			toNanos(at), repo, name)
	})
	if err != nil {
		return fmt.Errorf("stop service %q: %w", name, err)
	}
	return nil
}

// AddEvent records an event now. runID may be "" for events outside a run.
// Data round-trips as decodeMap describes: integers come back as int.
func (s *Store) AddEvent(ctx context.Context, runID, kind string, data map[string]any) error {
	text, err := encodeMap(data)
	if err != nil {
		return fmt.Errorf("add event %s: %w", kind, err)
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO events (run_id, kind, data_json, created_at)
			VALUES (?, ?, ?, ?)`, runID, kind, text, toNanos(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("add event %s: %w", kind, err)
	}
	return nil
}

// Events returns the events of a kind (all events when kind is ""), oldest
// first.
func (s *Store) Events(ctx context.Context, kind string) ([]engine.RecordedEvent, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, run_id, kind, data_json, created_at
		FROM events WHERE ?1 = '' OR kind = ?1 ORDER BY id`, kind)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var events []engine.RecordedEvent
	for rows.Next() {
		var (
			e       engine.RecordedEvent
			data    string
			created sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &e.RunID, &e.Kind, &data, &created); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		if e.Data, err = decodeMap(data); err != nil {
			return nil, fmt.Errorf("list events: decode event %d: %w", e.ID, err)
		}
		e.CreatedAt = fromNanos(created)
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return events, nil
}

// SetChecklistItem marks an item of a run's checklist done (now) or not
// done, creating it if needed. The run must exist.
func (s *Store) SetChecklistItem(ctx context.Context, runID, item string, done bool) error {
	var at sql.NullInt64
	if done {
		at = toNanos(time.Now())
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The note survives a change of state.
		_, err := tx.ExecContext(ctx, `INSERT INTO checklist (run_id, item, done, done_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (run_id, item) DO UPDATE SET done = excluded.done, done_at = excluded.done_at`,
			runID, item, done, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("set checklist item %q of run %s: %w", item, runID, err)
	}
	return nil
}

// Checklist returns a run's checklist items by name.
func (s *Store) Checklist(ctx context.Context, runID string) (map[string]engine.ChecklistItem, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT item, done, done_at, note FROM checklist WHERE run_id = ?`, runID)
	if err != nil {
		return nil, fmt.Errorf("checklist of run %s: %w", runID, err)
	}
	defer rows.Close()
	items := make(map[string]engine.ChecklistItem)
	for rows.Next() {
		var (
			it engine.ChecklistItem
			at sql.NullInt64
		)
		if err := rows.Scan(&it.Item, &it.Done, &at, &it.Note); err != nil {
			return nil, fmt.Errorf("checklist of run %s: %w", runID, err)
		}
		it.DoneAt = fromNanos(at)
		items[it.Item] = it
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checklist of run %s: %w", runID, err)
	}
	return items, nil
}

// SaveAnswer records the answer given on the command line to the prompt of
// a step, replacing an earlier one. The run must exist.
func (s *Store) SaveAnswer(ctx context.Context, runID, stepID, value string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return saveAnswer(ctx, tx, runID, stepID, value) })
	if err != nil {
		return fmt.Errorf("save answer for step %s of run %s: %w", stepID, runID, err)
	}
	return nil
}

func saveAnswer(ctx context.Context, tx *sql.Tx, runID, stepID, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO answers (run_id, step_id, value) VALUES (?, ?, ?)`,
		runID, stepID, value)
	return err
}

// Answers returns a run's prompt answers by step id.
func (s *Store) Answers(ctx context.Context, runID string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT step_id, value FROM answers WHERE run_id = ?`, runID)
	if err != nil {
		return nil, fmt.Errorf("answers of run %s: %w", runID, err)
	}
	defer rows.Close()
	answers := make(map[string]string)
	for rows.Next() {
		var step, value string
		if err := rows.Scan(&step, &value); err != nil {
			return nil, fmt.Errorf("answers of run %s: %w", runID, err)
		}
		answers[step] = value
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("answers of run %s: %w", runID, err)
	}
	return answers, nil
}

// Approve records that the procedure text at path (an absolute path inside
// a repository) is approved on this machine. hash is the sha256 of text.
func (s *Store) Approve(ctx context.Context, path, hash string, text []byte) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO approvals (path, hash, text, approved_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (path, hash) DO UPDATE SET approved_at = excluded.approved_at`,
			path, hash, string(text), toNanos(time.Now()))
		return err
	})
	if err != nil {
		return fmt.Errorf("approve %s: %w", path, err)
	}
	return nil
}

// Approved reports whether the text of path with this hash was approved.
func (s *Store) Approved(ctx context.Context, path, hash string) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM approvals WHERE path = ? AND hash = ?`, path, hash).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("approval of %s: %w", path, err)
	}
	return n > 0, nil
}

// LastApproved returns the text of path approved last, or nil when none
// was.
func (s *Store) LastApproved(ctx context.Context, path string) ([]byte, error) {
	var text string
	err := s.db.QueryRowContext(ctx, `SELECT text FROM approvals WHERE path = ? ORDER BY approved_at DESC LIMIT 1`, path).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("approval of %s: %w", path, err)
	}
	return []byte(text), nil
}

// SaveNotification records a hook's event as sent, replacing an earlier
// record of it, durably: a kill after it must not send it again. The run
// must exist.
func (s *Store) SaveNotification(ctx context.Context, n engine.SentNotification) error {
	at := n.SentAt
	if at.IsZero() {
		at = time.Now()
	}
	err := s.durableTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO notifications (run_id, generation, hook, event, status, error, sent_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (run_id, generation, hook, event) DO UPDATE
			SET status = excluded.status, error = excluded.error, sent_at = excluded.sent_at`,
			n.RunID, n.Generation, n.Hook, n.Event, n.Status, n.Error, toNanos(at))
		return err
	})
	if err != nil {
		return fmt.Errorf("record notification %s of run %s: %w", n.Event, n.RunID, err)
	}
	return nil
}

// Notifications returns what a run's hooks sent, oldest first.
func (s *Store) Notifications(ctx context.Context, runID string) ([]engine.SentNotification, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT run_id, generation, hook, event, status, error, sent_at
		FROM notifications WHERE run_id = ? ORDER BY sent_at, hook`, runID)
	if err != nil {
		return nil, fmt.Errorf("notifications of run %s: %w", runID, err)
	}
	defer rows.Close()
	var out []engine.SentNotification
	for rows.Next() {
		var (
			n  engine.SentNotification
			at sql.NullInt64
		)
		if err := rows.Scan(&n.RunID, &n.Generation, &n.Hook, &n.Event, &n.Status, &n.Error, &at); err != nil {
			return nil, fmt.Errorf("notifications of run %s: %w", runID, err)
		}
		n.SentAt = fromNanos(at)
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notifications of run %s: %w", runID, err)
	}
	return out, nil
}

// ForgetNotifications forgets that the events were sent in a run's attempt
// generation, so that they fire again.
func (s *Store) ForgetNotifications(ctx context.Context, runID string, generation int, events []string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, e := range events {
			if _, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE run_id = ? AND generation = ? AND event = ?`, runID, generation, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("forget notifications of run %s: %w", runID, err)
	}
	return nil
}

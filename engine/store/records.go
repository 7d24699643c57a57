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

// SaveAnswer records an answer to the prompt of a step, with who gave it,
// when and how, replacing an earlier one. The run must exist.
func (s *Store) SaveAnswer(ctx context.Context, a engine.Answer) error {
	err := s.tx(ctx, func(tx *sql.Tx) error { return saveAnswer(ctx, tx, a) })
	if err != nil {
		return fmt.Errorf("save answer for step %s of run %s: %w", a.StepID, a.RunID, err)
	}
	return nil
}

func saveAnswer(ctx context.Context, tx *sql.Tx, a engine.Answer) error {
	if a.At.IsZero() {
		a.At = time.Now()
	}
	_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO answers
		(run_id, step_id, value, source, user, host, via, answered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		a.RunID, a.StepID, a.Value, a.Source, a.User, a.Host, a.Via, toNanos(a.At))
	return err
}

const answerColumns = `a.run_id, a.step_id, a.value, a.source, a.user, a.host, a.via, a.answered_at, coalesce(q.text, '')`

func scanAnswer(sc scanner) (*engine.Answer, error) {
	var (
		a  engine.Answer
		at sql.NullInt64
	)
	if err := sc.Scan(&a.RunID, &a.StepID, &a.Value, &a.Source, &a.User, &a.Host, &a.Via, &at, &a.Question); err != nil {
		return nil, err
	}
	a.At = fromNanos(at)
	return &a, nil
}

// Answers returns a run's prompt answers, oldest first (answers from
// before answers had times come first), each with the text of the
// question its step asked.
func (s *Store) Answers(ctx context.Context, runID string) ([]engine.Answer, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+answerColumns+` FROM answers a
		LEFT JOIN questions q ON q.run_id = a.run_id AND q.step_id = a.step_id
		WHERE a.run_id = ? ORDER BY coalesce(a.answered_at, 0), a.step_id`, runID)
	if err != nil {
		return nil, fmt.Errorf("answers of run %s: %w", runID, err)
	}
	defer rows.Close()
	var answers []engine.Answer
	for rows.Next() {
		a, err := scanAnswer(rows)
		if err != nil {
			return nil, fmt.Errorf("answers of run %s: %w", runID, err)
		}
		answers = append(answers, *a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("answers of run %s: %w", runID, err)
	}
	return answers, nil
}

// Answer returns the answer recorded for one step of a run, or an error
// wrapping engine.ErrNotFound. It is a lookup by primary key, cheap enough
// for a waiting prompt to call a few times a second: in WAL mode a reader
// takes no lock a writer waits for.
func (s *Store) Answer(ctx context.Context, runID, stepID string) (*engine.Answer, error) {
	a, err := scanAnswer(s.db.QueryRowContext(ctx, `SELECT `+answerColumns+` FROM answers a
		LEFT JOIN questions q ON q.run_id = a.run_id AND q.step_id = a.step_id
		WHERE a.run_id = ? AND a.step_id = ?`, runID, stepID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("answer for step %s of run %s: %w", stepID, runID, engine.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("answer for step %s of run %s: %w", stepID, runID, err)
	}
	return a, nil
}

// SaveQuestion records the question a step asks, replacing an earlier
// one. The run must exist.
func (s *Store) SaveQuestion(ctx context.Context, q engine.Asked) error {
	choices, err := encodeList(q.Choices)
	if err != nil {
		return fmt.Errorf("save question of step %s of run %s: %w", q.Step, q.RunID, err)
	}
	if q.AskedAt.IsZero() {
		q.AskedAt = time.Now()
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO questions
			(run_id, step_id, text, type, choices_json, default_value, asked_at, until_at, place)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			q.RunID, q.Step, q.Text, q.Type, choices, q.Default, q.AskedAt.UnixNano(), toNanos(q.Until), q.Where)
		return err
	})
	if err != nil {
		return fmt.Errorf("save question of step %s of run %s: %w", q.Step, q.RunID, err)
	}
	return nil
}

// Question returns the question a step asked last, or an error wrapping
// engine.ErrNotFound.
func (s *Store) Question(ctx context.Context, runID, stepID string) (*engine.Asked, error) {
	var (
		q       = engine.Asked{RunID: runID}
		choices string
		asked   int64
		until   sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT step_id, text, type, choices_json, default_value, asked_at, until_at, place
		FROM questions WHERE run_id = ? AND step_id = ?`, runID, stepID).
		Scan(&q.Step, &q.Text, &q.Type, &choices, &q.Default, &asked, &until, &q.Where)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("question of step %s of run %s: %w", stepID, runID, engine.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("question of step %s of run %s: %w", stepID, runID, err)
	}
	if q.Choices, err = decodeList(choices); err != nil {
		return nil, fmt.Errorf("question of step %s of run %s: %w", stepID, runID, err)
	}
	q.AskedAt = time.Unix(0, asked)
	q.Until = fromNanos(until)
	return &q, nil
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

package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine"
)

// The store has every capability the engine declares.
var (
	_ engine.Store          = (*Store)(nil)
	_ engine.RunStore       = (*Store)(nil)
	_ engine.AnswerStore    = (*Store)(nil)
	_ engine.SnapshotStore  = (*Store)(nil)
	_ engine.ServiceStore   = (*Store)(nil)
	_ engine.EventStore     = (*Store)(nil)
	_ engine.ChecklistStore = (*Store)(nil)
)

// maxCandidates bounds the ids an ambiguous-prefix error lists.
const maxCandidates = 5

const runColumns = `id, procedure, source, source_path, hash, params_json, repo, state_dir,
	status, started_at, ended_at, parent_run, parent_step, target_ns, generation,
	failed_step, owner_pid, owner_start, undone_by, user, host`

// CreateRun inserts a new run and the answers given for its prompts, in one
// transaction. It fails if a run with the same id exists.
func (s *Store) CreateRun(ctx context.Context, r *engine.Run, answers []engine.Answer) error {
	if r == nil || r.ID == "" {
		return errors.New("create run: the run has no id")
	}
	params, err := encodeMap(r.Params)
	if err != nil {
		return fmt.Errorf("create run %s: encode params: %w", r.ID, err)
	}
	err = s.durableTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO runs (`+runColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.ID, r.Procedure, r.Source, r.SourcePath, r.Hash, params, r.Repo, r.StateDir,
			string(r.Status), toNanos(r.StartedAt), toNanos(r.EndedAt), r.ParentRun, r.ParentStep,
			int64(r.Target), r.Generation, r.FailedStep, r.OwnerPID, int64(r.OwnerStart), r.UndoneBy,
			r.User, r.Host)
		if err != nil {
			return err
		}
		for _, a := range answers {
			a.RunID = r.ID
			if err := saveAnswer(ctx, tx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create run %s: %w", r.ID, err)
	}
	return nil
}

// UpdateRun writes the run's mutable fields: status, end time, owner,
// source (with its path and hash), failed step and generation. It returns
// an error wrapping engine.ErrNotFound if the run does not exist.
func (s *Store) UpdateRun(ctx context.Context, r *engine.Run) error {
	if r == nil || r.ID == "" {
		return errors.New("update run: the run has no id")
	}
	err := s.durableTx(ctx, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, `UPDATE runs SET
			status = ?, ended_at = ?, owner_pid = ?, owner_start = ?,
			source = ?, source_path = ?, hash = ?, failed_step = ?, generation = ?
			WHERE id = ?`,
			string(r.Status), toNanos(r.EndedAt), r.OwnerPID, int64(r.OwnerStart),
			r.Source, r.SourcePath, r.Hash, r.FailedStep, r.Generation, r.ID)
	})
	if err != nil {
		return fmt.Errorf("update run %s: %w", r.ID, err)
	}
	return nil
}

// SetUndoneBy records that the run undoRun undid runID ("" clears it: that
// undo was undone). It returns an error wrapping engine.ErrNotFound if the
// run does not exist.
func (s *Store) SetUndoneBy(ctx context.Context, runID, undoRun string) error {
	err := s.durableTx(ctx, func(tx *sql.Tx) error {
		return updateOne(ctx, tx, `UPDATE runs SET undone_by = ? WHERE id = ?`, undoRun, runID)
	})
	if err != nil {
		return fmt.Errorf("mark run %s undone: %w", runID, err)
	}
	return nil
}

// Run returns the run whose id is id or, failing that, the only run whose id
// starts with id. It returns an error wrapping engine.ErrNotFound if no run
// matches and one wrapping ErrAmbiguous, naming the candidates, if several do.
func (s *Store) Run(ctx context.Context, id string) (*engine.Run, error) {
	if id == "" {
		return nil, fmt.Errorf("run %q: %w", id, engine.ErrNotFound)
	}
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, id))
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	ids, err := s.idsWithPrefix(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", id, err)
	}
	switch len(ids) {
	case 0:
		return nil, fmt.Errorf("run %q: %w", id, engine.ErrNotFound)
	case 1:
		r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+` FROM runs WHERE id = ?`, ids[0]))
		if err != nil {
			return nil, fmt.Errorf("run %s: %w", ids[0], err)
		}
		return r, nil
	}
	list := ids
	if len(ids) > maxCandidates {
		list = append(ids[:maxCandidates:maxCandidates], "...")
	}
	return nil, fmt.Errorf("%w: %q matches %s; give more of the id", ErrAmbiguous, id, strings.Join(list, ", "))
}

// idsWithPrefix returns, newest first, up to maxCandidates+1 ids starting
// with prefix.
func (s *Store) idsWithPrefix(ctx context.Context, prefix string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM runs
		WHERE substr(id, 1, length(?1)) = ?1
		ORDER BY started_at DESC, id DESC LIMIT ?2`, prefix, maxCandidates+1)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// Runs lists the runs of the repository whose work tree root is repo (all
// runs when repo is ""), newest first.
func (s *Store) Runs(ctx context.Context, repo string) ([]*engine.Run, error) {
	return s.queryRuns(ctx, "list runs", `SELECT `+runColumns+` FROM runs
		WHERE ?1 = '' OR repo = ?1
		ORDER BY started_at DESC, id DESC`, repo)
}

// ChildRuns lists the runs that run parent called, oldest first: what a
// run's family needs without reading every run of the store.
func (s *Store) ChildRuns(ctx context.Context, parent string) ([]*engine.Run, error) {
	return s.queryRuns(ctx, "list the runs "+parent+" called", `SELECT `+runColumns+` FROM runs
		WHERE parent_run = ?1 AND ?1 != ''
		ORDER BY started_at, id`, parent)
}

func (s *Store) queryRuns(ctx context.Context, what, query string, args ...any) ([]*engine.Run, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var runs []*engine.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return runs, nil
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

func scanRun(sc scanner) (*engine.Run, error) {
	var (
		r                 engine.Run
		status, params    string
		started, ended    sql.NullInt64
		target, ownerTime int64
	)
	err := sc.Scan(&r.ID, &r.Procedure, &r.Source, &r.SourcePath, &r.Hash, &params, &r.Repo, &r.StateDir,
		&status, &started, &ended, &r.ParentRun, &r.ParentStep, &target, &r.Generation,
		&r.FailedStep, &r.OwnerPID, &ownerTime, &r.UndoneBy, &r.User, &r.Host)
	if err != nil {
		return nil, err
	}
	if r.Params, err = decodeMap(params); err != nil {
		return nil, fmt.Errorf("decode params of run %s: %w", r.ID, err)
	}
	r.Status = engine.RunStatus(status)
	r.StartedAt = fromNanos(started)
	r.EndedAt = fromNanos(ended)
	r.Target = time.Duration(target)
	r.OwnerStart = uint64(ownerTime)
	return &r, nil
}

const stepColumns = `run_id, step_id, section, status, outcome, conclusion, started_at, ended_at,
	exit_code, attempts, outputs_json, error, def_hash, pid, pid_start, tail, log_path, user, host`

// SaveStep inserts or replaces the record of one step. A replaced record
// keeps its place in the order Steps returns. One record is one statement,
// committed on its own (SQLite makes it a transaction): a step's start and
// its end cost a commit each, without a BEGIN and a COMMIT around them.
func (s *Store) SaveStep(ctx context.Context, rec *engine.StepRecord) error {
	args, err := stepArgs(rec)
	if err != nil {
		return err
	}
	err = s.write(ctx, func(c *sql.Conn) error {
		stmt, err := s.stepStmt(ctx, c)
		if err == nil {
			_, err = stmt.ExecContext(ctx, args...)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("save step %s of run %s: %w", rec.StepID, rec.RunID, err)
	}
	return nil
}

// SaveSteps saves several step records in one transaction: either all are
// written or none.
func (s *Store) SaveSteps(ctx context.Context, recs ...*engine.StepRecord) error {
	rows := make([][]any, 0, len(recs))
	for _, rec := range recs {
		args, err := stepArgs(rec)
		if err != nil {
			return err
		}
		rows = append(rows, args)
	}
	var failed *engine.StepRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for i, args := range rows {
			if _, err := tx.ExecContext(ctx, saveStepSQL, args...); err != nil {
				failed = recs[i]
				return err
			}
		}
		return nil
	})
	if err != nil {
		if failed != nil {
			return fmt.Errorf("save step %s of run %s: %w", failed.StepID, failed.RunID, err)
		}
		return fmt.Errorf("save steps: %w", err)
	}
	return nil
}

// saveStepSQL inserts a step's record or replaces it. seq is the step's
// place in the run, fixed when it is first saved.
const saveStepSQL = `INSERT INTO steps (seq, ` + stepColumns + `)
	VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM steps WHERE run_id = ?1),
		?1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (run_id, step_id) DO UPDATE SET
		section = excluded.section, status = excluded.status,
		outcome = excluded.outcome, conclusion = excluded.conclusion,
		started_at = excluded.started_at, ended_at = excluded.ended_at,
		exit_code = excluded.exit_code, attempts = excluded.attempts,
		outputs_json = excluded.outputs_json, error = excluded.error,
		def_hash = excluded.def_hash, pid = excluded.pid,
		pid_start = excluded.pid_start, tail = excluded.tail,
		log_path = excluded.log_path, user = excluded.user,
		host = excluded.host`

// stepArgs are rec's values in saveStepSQL's order.
func stepArgs(rec *engine.StepRecord) ([]any, error) {
	if rec == nil || rec.RunID == "" || rec.StepID == "" {
		return nil, errors.New("save step: the record has no run id or step id")
	}
	outputs, err := encodeMap(rec.Outputs)
	if err != nil {
		return nil, fmt.Errorf("save step %s of run %s: encode outputs: %w", rec.StepID, rec.RunID, err)
	}
	return []any{rec.RunID, rec.StepID, rec.Section, string(rec.Status), string(rec.Outcome),
		string(rec.Conclusion), toNanos(rec.StartedAt), toNanos(rec.EndedAt),
		rec.ExitCode, rec.Attempts, outputs, rec.Error, rec.DefHash,
		rec.PID, int64(rec.PIDStart), rec.Tail, rec.LogPath, rec.User, rec.Host}, nil
}

// Steps returns the records of a run's steps in the order they were first
// saved, which is the order they started in. A run without steps, or an
// unknown run, has none.
func (s *Store) Steps(ctx context.Context, runID string) ([]*engine.StepRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+stepColumns+` FROM steps
		WHERE run_id = ? ORDER BY seq`, runID)
	if err != nil {
		return nil, fmt.Errorf("steps of run %s: %w", runID, err)
	}
	defer rows.Close()
	var recs []*engine.StepRecord
	for rows.Next() {
		var (
			rec                         engine.StepRecord
			status, outcome, conclusion string
			started, ended              sql.NullInt64
			outputs                     string
			pidStart                    int64
		)
		err := rows.Scan(&rec.RunID, &rec.StepID, &rec.Section, &status, &outcome, &conclusion,
			&started, &ended, &rec.ExitCode, &rec.Attempts, &outputs, &rec.Error, &rec.DefHash,
			&rec.PID, &pidStart, &rec.Tail, &rec.LogPath, &rec.User, &rec.Host)
		if err != nil {
			return nil, fmt.Errorf("steps of run %s: %w", runID, err)
		}
		if rec.Outputs, err = decodeMap(outputs); err != nil {
			return nil, fmt.Errorf("steps of run %s: decode outputs of %s: %w", runID, rec.StepID, err)
		}
		rec.Status = engine.StepStatus(status)
		rec.Outcome = engine.StepStatus(outcome)
		rec.Conclusion = engine.StepStatus(conclusion)
		rec.StartedAt = fromNanos(started)
		rec.EndedAt = fromNanos(ended)
		rec.PIDStart = uint64(pidStart)
		recs = append(recs, &rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("steps of run %s: %w", runID, err)
	}
	return recs, nil
}

// DeleteStep forgets a step's record so that the step runs again; saved
// again, it goes to the end of the order. Deleting a step that has no
// record is not an error.
func (s *Store) DeleteStep(ctx context.Context, runID, stepID string) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM steps WHERE run_id = ? AND step_id = ?`, runID, stepID)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete step %s of run %s: %w", stepID, runID, err)
	}
	return nil
}

// updateOne runs an UPDATE that must change a row: none changed is
// engine.ErrNotFound.
func updateOne(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return engine.ErrNotFound
	}
	return nil
}

package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
	"github.com/rbflow/rbflow/engine"
)

// DBName is the name of the database file inside the state folder.
const DBName = "state.db"

// dsnOptions are the connection settings. The driver applies them to every
// connection it opens, which PRAGMA statements run once on the pool would
// not: synchronous and foreign_keys are per connection.
//
// Two pools share the database: step transitions commit with
// synchronous=NORMAL (in WAL mode: no fsync per commit; a power cut may
// lose the last ones, and a step then runs again), and what must survive
// one commits with FULL: a run's creation and end, and a snapshot's record,
// which a destructive action waits for. A FULL commit syncs the whole WAL,
// so every NORMAL commit before it is durable too.
const (
	dsnOptions        = "_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=on"
	durableDSNOptions = "_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=on"
)

// ErrNoCgo is returned by Open when rbflow was compiled without cgo.
var ErrNoCgo = errors.New("rbflow was built without cgo (CGO_ENABLED=0); the SQLite store needs cgo and gcc")

// ErrAmbiguous is returned by Store.Run when an id prefix matches several runs.
var ErrAmbiguous = errors.New("store: ambiguous run id")

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the SQLite run store of one state folder. It is safe for
// concurrent use, and several processes may open the same folder.
type Store struct {
	db      *sql.DB // synchronous=NORMAL
	durable *sql.DB // synchronous=FULL
	dir     string
	path    string
	walMu   sync.Mutex
	wal     *os.File // the write-ahead log as the store first saw it (see walGone)
	// writeMu lets one of this process's writes at a time reach SQLite,
	// which takes one writer at a time anyway: a second one on another
	// connection would get SQLITE_BUSY and sleep in SQLite's busy handler
	// (a millisecond or more) while the first commits in microseconds.
	// Steps that run side by side commit one after another instead.
	writeMu  sync.Mutex
	wconn    *sql.Conn // the connection writes go through (see write)
	saveStep *sql.Stmt // saveStepSQL, prepared on wconn
	// chain is when the full check that vouches for this store ran: at
	// this Open, or at an earlier one that vouch carried on; zero when
	// the store was not checked (see vouch.go).
	chain     time.Time
	fullCheck bool // Open ran the full check
	// Notice is what a person must hear about this store, said by the
	// command that opened it: it was damaged and set aside, or it lost
	// its history.
	Notice string
}

// Open opens the store in dir, creating dir (mode 0700) and its database
// (mode 0600) if needed, and migrates the schema to the version this rbflow
// knows. It fails if the database was written by a newer rbflow.
func Open(dir string) (*Store, error) { return openIn(dir, true) }

// OpenUnchecked is Open without the check for damage (see quickCheck),
// for commands that only read: a damaged store still fails them with a
// StoreError that sends the user to rbflow doctor, and they spare the
// check's milliseconds.
func OpenUnchecked(dir string) (*Store, error) { return openIn(dir, false) }

// OpenReadOnly opens the store in dir for reading only, for shell
// completion: it creates nothing (an error wrapping fs.ErrNotExist if dir
// holds no store), migrates nothing, sets nothing aside and waits at most
// half a second for a lock. It refuses a store of another schema version.
// Writes through it fail.
func OpenReadOnly(dir string) (*Store, error) {
	if err := checkCgo(); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, DBName)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db, err := sql.Open("sqlite3", dsn(path, "mode=ro&_busy_timeout=500&_foreign_keys=on"))
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	s := &Store{db: db, durable: db, dir: dir, path: path}
	ms, err := migrations()
	var version int
	if err == nil {
		err = db.QueryRow("PRAGMA user_version").Scan(&version)
	}
	if err == nil && version != len(ms) {
		err = fmt.Errorf("schema version %d, this rbflow knows %d", version, len(ms))
	}
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return s, nil
}

func openIn(dir string, check bool) (*Store, error) {
	if err := checkCgo(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("open state %s: %w", abs, err)
	}
	path := filepath.Join(abs, DBName)
	s, err := open(abs, path, check)
	if err == nil {
		s.checkHistory()
		return s, nil
	}
	if sqliteFailure(err) != failDamaged {
		return nil, err
	}
	// A damaged store never blocks a rollback (SPEC §4.1): it is set
	// aside, whole, for inspection, and a fresh one is used.
	damage := err
	aside, err := setAside(path)
	if err != nil {
		return nil, fmt.Errorf("%w; moving it aside failed too: %v", s.explainOr(path, damage), err)
	}
	if s, err = open(abs, path, check); err != nil {
		return nil, err
	}
	s.Notice = fmt.Sprintf("the state store %s was damaged (%v). It was moved to %s for inspection and a fresh store is used: "+
		"earlier runs are not listed, their logs stay in %s and the snapshots in the repository's rbflow/snapshots.git. "+
		"rbflow doctor says more.", path, innermost(damage), aside, filepath.Join(abs, "runs"))
	return s, nil
}

// innermost is the message of the error at the bottom of err's chain
// ("file is not a database").
func innermost(err error) string {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// open opens and checks the store at path, in the folder abs. On error the
// returned Store is nil but for explainOr.
func open(abs, path string, check bool) (*Store, error) {
	// Create the file ourselves: SQLite would create it with 0644 minus umask,
	// and it creates the -wal and -shm files with the database file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	db, err := sql.Open("sqlite3", dsn(path, dsnOptions))
	if err != nil {
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	durable, err := sql.Open("sqlite3", dsn(path, durableDSNOptions))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	// Steps side by side read at once: their connections stay open rather
	// than each being opened again once two are idle, database/sql's
	// default. The durable pool holds one connection, opened with the
	// store (see walGone): SQLite takes one writer at a time anyway.
	db.SetMaxIdleConns(8)
	durable.SetMaxOpenConns(1)
	s := &Store{db: db, durable: durable, dir: abs, path: path}
	if err := s.migrate(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	if err := s.quickCheck(check); err != nil {
		s.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	if err := s.openDurable(context.Background()); err != nil {
		s.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	if err := s.restrictModes(); err != nil {
		s.Close()
		return nil, fmt.Errorf("open state %s: %w", path, err)
	}
	return s, nil
}

// explainOr words err as explain does, for a store that did not open.
func (s *Store) explainOr(path string, err error) error {
	if s == nil {
		s = &Store{dir: filepath.Dir(path), path: path}
	}
	return s.explain(err)
}

// Open checks the store for damage while a fresh store can still take its
// place, rather than in the middle of a rollback: SQLite's integrity_check
// up to integrityCheckMax (index and table out of step included; about 13
// ms a MB here), its quick_check up to quickCheckMax (about 2 ms a MB);
// rbflow doctor runs the whole check on a store of any size. A store that
// the last checked session left as it is needs no new check (vouch.go).
const (
	integrityCheckMax = 1 << 20
	quickCheckMax     = 64 << 20
)

func (s *Store) quickCheck(check bool) error {
	fi, err := os.Stat(s.path)
	if !check || err != nil || fi.Size() > quickCheckMax || s.vouched(fi.Size()) {
		return nil
	}
	pragma := "PRAGMA quick_check(1)"
	if fi.Size() <= integrityCheckMax {
		pragma = "PRAGMA integrity_check(1)"
	}
	var res string
	if err := s.db.QueryRow(pragma).Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return sqlite3Corrupt(res)
	}
	s.chain, s.fullCheck = time.Now(), true
	return nil
}

// setAside renames the store's files (state.db and its -wal and -shm) to
// state.db.damaged-<time>, and returns that name.
func setAside(path string) (string, error) {
	aside := fmt.Sprintf("%s.damaged-%s", path, time.Now().UTC().Format("20060102-150405.000"))
	if err := os.Rename(path, aside); err != nil {
		return "", err
	}
	for _, ext := range []string{"-wal", "-shm"} {
		if err := os.Rename(path+ext, aside+ext); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return aside, err
		}
	}
	os.Remove(path + checkedSuffix) // it vouched for the file set aside
	return aside, nil
}

// checkHistory notices a store that lost its history: no runs recorded,
// but run folders in runs/ (a truncated or replaced state.db).
func (s *Store) checkHistory() {
	var any bool
	if err := s.db.QueryRow("SELECT EXISTS (SELECT 1 FROM runs)").Scan(&any); err != nil || any {
		return
	}
	entries, err := os.ReadDir(filepath.Join(s.dir, "runs"))
	if err != nil {
		return
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() {
			n++
		}
	}
	if n > 0 {
		s.Notice = fmt.Sprintf("the state store %s holds no runs, but %s has %d run folders: its history was lost (a truncated or replaced state.db?). "+
			"Their logs stay there and the snapshots in the repository's rbflow/snapshots.git; rbflow doctor says more.", s.path, filepath.Join(s.dir, "runs"), n)
	}
}

// dsn builds a file: URI so that any character in the path ('?', '#', '%')
// reaches SQLite intact.
func dsn(path, options string) string {
	u := url.URL{Path: filepath.ToSlash(path)}
	return "file:" + u.EscapedPath() + "?" + options
}

// restrictModes makes the database and its WAL files 0600 whatever the umask
// and whoever created them.
func (s *Store) restrictModes() error {
	for _, p := range []string{s.path, s.path + "-wal", s.path + "-shm"} {
		if err := os.Chmod(p, 0o600); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// Close closes the database. The store must not be used afterwards.
func (s *Store) Close() error {
	s.walMu.Lock()
	if s.wal != nil {
		s.wal.Close()
		s.wal = nil
	}
	s.walMu.Unlock()
	s.writeMu.Lock()
	s.dropWriter()
	s.writeMu.Unlock()
	derr := s.durable.Close()
	if err := errors.Join(s.db.Close(), derr); err != nil {
		return fmt.Errorf("close state %s: %w", s.path, err)
	}
	s.vouch()
	return nil
}

// Dir returns the absolute path of the state folder.
func (s *Store) Dir() string { return s.dir }

// IntegrityCheck runs SQLite's integrity check over the whole database and
// returns an error describing the damage unless it reports "ok".
func (s *Store) IntegrityCheck(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("check state %s: %w", s.path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fmt.Errorf("check state %s: %w", s.path, err)
		}
		problems = append(problems, line)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check state %s: %w", s.path, err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return fmt.Errorf("check state %s: database is damaged: %s", s.path, strings.Join(problems, "; "))
}

// migration is one embedded schema step; applying it moves the database to
// its version.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. Their names
// start with the version, counted from 1 without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, name := range names {
		base := filepath.Base(name)
		num, _, _ := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with its version number", base)
		}
		text, err := migrationFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(text)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

// migrate brings the schema to the newest embedded version in one
// transaction. The transaction is immediate, so two processes opening a new
// state folder at once do not both apply the same migration.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var current int
		if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
			return fmt.Errorf("read schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("schema version %d is newer than this rbflow knows (%d); use a newer rbflow or another state folder", current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		if current == len(ms) {
			return nil
		}
		// PRAGMA takes no bound parameters; the value is our own integer.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(ms))); err != nil {
			return fmt.Errorf("set schema version: %w", err)
		}
		return nil
	})
}

// tx runs f in an immediate transaction and commits if f returns nil.
func (s *Store) tx(ctx context.Context, f func(tx *sql.Tx) error) error {
	return s.write(ctx, func(c *sql.Conn) error { return txOn(ctx, c, f) })
}

// write runs f on the connection this process writes through (but for
// durableTx), one write at a time, and explains its error. The connection
// is opened on first use and kept: it keeps its page cache and its
// prepared statement from one write to the next, where steps side by side
// would otherwise take turns on the pool's connections, each reading again
// the pages the others changed. A broken one is dropped, and the next
// write opens another.
func (s *Store) write(ctx context.Context, f func(c *sql.Conn) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.wconn == nil {
		c, err := s.db.Conn(context.WithoutCancel(ctx))
		if err != nil {
			return s.explain(err)
		}
		s.wconn = c
	}
	c := s.wconn
	err := f(c)
	s.writeFailed(err)
	return s.explain(s.walGone(ctx, c, err))
}

// stepStmt returns saveStepSQL prepared on the writer c, once; s.writeMu
// is held. (Not when the writer opens: the migrations that make the table
// write first.)
func (s *Store) stepStmt(ctx context.Context, c *sql.Conn) (*sql.Stmt, error) {
	if s.saveStep == nil {
		st, err := c.PrepareContext(ctx, saveStepSQL)
		if err != nil {
			return nil, err
		}
		s.saveStep = st
	}
	return s.saveStep, nil
}

// writeFailed drops the writer when err says its connection is broken:
// the next write opens another. s.writeMu is held.
func (s *Store) writeFailed(err error) {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		s.dropWriter()
	}
}

// dropWriter closes the writer's statement and connection. s.writeMu is
// held.
func (s *Store) dropWriter() {
	if s.saveStep != nil {
		s.saveStep.Close()
		s.saveStep = nil
	}
	if s.wconn != nil {
		s.wconn.Close()
		s.wconn = nil
	}
}

// durableTx is tx committed with synchronous=FULL (see dsnOptions).
func (s *Store) durableTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	c, err := s.durable.Conn(context.WithoutCancel(ctx))
	if err != nil {
		return s.explain(err)
	}
	defer c.Close()
	return s.explain(s.walGone(ctx, c, txOn(ctx, c, f)))
}

// walGone guards against a write-ahead log deleted under an open store
// (a cleanup script, a person tidying .git): SQLite goes on writing to
// the deleted file, which readers no longer see (another process may even
// have made a new, empty one), and everything since the last checkpoint
// would be lost with the process. The store keeps the log it first saw
// open; after each commit (err nil), if the path no longer names that
// file, the commits are checkpointed into state.db at once, through c,
// the connection that made the commit. A connection opened after the
// deletion would have made a new, empty log and read the frames there:
// the checkpoint must go through one that holds the deleted file, which
// is why both writing connections open with the store (the writer with
// the migration, the durable one in openDurable). A
// checkpoint that could not take every frame (a reader still on an older
// state) is an error, not a silent loss.
func (s *Store) walGone(ctx context.Context, c *sql.Conn, err error) error {
	if err != nil {
		return err
	}
	wal := s.path + "-wal"
	now, serr := os.Stat(wal)
	s.walMu.Lock()
	defer s.walMu.Unlock()
	if s.wal == nil {
		if serr == nil {
			s.wal, _ = os.Open(wal)
		}
		return nil
	}
	if first, ferr := s.wal.Stat(); ferr == nil && serr == nil && os.SameFile(first, now) {
		return nil
	}
	var busy, frames, saved int
	cerr := c.QueryRowContext(context.WithoutCancel(ctx), "PRAGMA wal_checkpoint(FULL)").Scan(&busy, &frames, &saved)
	if cerr == nil && (busy != 0 || saved < frames) {
		cerr = fmt.Errorf("the checkpoint saved %d of %d pages (another process was reading)", max(saved, 0), frames)
	}
	if cerr != nil {
		return fmt.Errorf("the store's write-ahead log %s was deleted and its records could not be saved into %s: %w", wal, s.path, cerr)
	}
	return nil
}

// openDurable opens the durable pool's one connection as the store opens,
// and with it the write-ahead log it writes to (see walGone); the writer
// opened with the migration. The read is what opens the log.
func (s *Store) openDurable(ctx context.Context) error {
	var n int
	return s.durable.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n)
}

// explain turns SQLite's "database or disk is full", "attempt to write a
// readonly database" and the like into an *engine.StoreError that names
// the store and says what to do.
func (s *Store) explain(err error) error {
	reason := ""
	switch sqliteFailure(err) {
	case failFull:
		reason = "the disk is full" + engine.FreeSpace(s.dir) + "; free space and rbflow resume"
	case failReadonly:
		reason = "the store is read-only (its file, folder or file system); make it writable and rbflow resume"
	case failDamaged:
		reason = "the store is damaged; rbflow doctor says what to do"
	case failIO:
		reason = "the store's files cannot be read or written" + engine.FreeSpace(s.dir)
	default:
		return err
	}
	return &engine.StoreError{Path: s.path, Reason: reason, Err: err}
}

// The failures of SQLite that explain words for people.
const (
	failOther = iota
	failFull
	failReadonly
	failDamaged
	failIO
)

func txOn(ctx context.Context, db interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Package store keeps rbflow's runs durably in a SQLite database, state.db,
// inside the state folder (see SPEC §4). It implements engine.Store: the
// engine commits a step's running record before the step's side effects
// begin and its result when it ends, so a run survives a crash or kill -9 and
// can be resumed. The store also holds the records of later features:
// snapshots, services, metrics events, checklists, prompt answers, the
// questions prompts asked, who ran, answered or undid what and where, and
// the notifications a run's hooks sent.
// A prompt that waits polls the answers table by key while rbflow answer
// writes to it from another process: in WAL mode neither waits for the other.
//
// The database runs in WAL mode with a busy timeout, immediate
// transactions and foreign keys on, all set in the DSN so that every pooled
// connection has them. Step transitions commit with synchronous=NORMAL; a
// run's creation and end, a snapshot's record (which a destructive
// action waits for) and a sent notification (which must not be sent again)
// commit with FULL, which makes every earlier commit
// durable too. The schema is versioned with
// PRAGMA user_version and migrated at Open from embedded SQL files.
//
// This is the only package that imports the SQLite driver, which needs cgo.
package store

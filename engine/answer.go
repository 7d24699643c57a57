package engine

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"
)

// Actor is who did something rbflow records, and where (SPEC §3: runs,
// step attempts, answers and undos record the user and host).
type Actor struct {
	// User is the login name, "alice (sudo as root)" when run through
	// sudo, or what stands in for a person: "timeout" for a default a
	// prompt took when its wait ran out.
	User string
	Host string
}

// String is "alice on db-1", or what of it is known.
func (a Actor) String() string {
	switch {
	case a.User == "" && a.Host == "":
		return "unknown"
	case a.Host == "":
		return a.User
	case a.User == "":
		return "someone on " + a.Host
	}
	return a.User + " on " + a.Host
}

var currentActor = sync.OnceValue(func() Actor {
	var name string
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	} else if name = os.Getenv("USER"); name == "" {
		name = fmt.Sprintf("uid %d", os.Getuid())
	}
	// sudo keeps the person who typed the command in SUDO_USER.
	if sudo := os.Getenv("SUDO_USER"); sudo != "" && sudo != name {
		name = fmt.Sprintf("%s (sudo as %s)", sudo, name)
	}
	host, err := os.Hostname()
	if err != nil {
		host = ""
	}
	return Actor{User: name, Host: host}
})

// CurrentActor is the user this process runs for and its host.
func CurrentActor() Actor { return currentActor() }

// Answer sources: how an answer to a prompt came.
const (
	AnswerFlag     = "answer"   // rbflow run or resume --answer STEP=VALUE
	AnswerCommand  = "command"  // rbflow answer RUN STEP=VALUE, from another shell
	AnswerTerminal = "terminal" // typed on the terminal the run runs on
	AnswerYes      = "yes"      // --yes, for a confirm
	AnswerDefault  = "default"  // --yes without a terminal took the prompt's default
	AnswerTimeout  = "timeout"  // the prompt's wait ran out and it took its default
)

// TimeoutActor is who answers when a prompt's wait runs out.
const TimeoutActor = "timeout"

// Answer is an answer to a prompt step and who gave it, when and how.
type Answer struct {
	RunID  string
	StepID string
	Value  string
	Source string // one of the Answer* sources
	Actor         // who answered, and on which host
	Via    string // where from, in words: "rbflow answer, pid 4242 on /dev/pts/3"
	At     time.Time
	// Question is the text the step asked, when it was asked ("" for an
	// answer given before the step ran). Filled in by AnswerStore.Answers.
	Question string
}

// Given reports whether the answer was given for the step to take when it
// runs (--answer, rbflow answer), rather than taken by the step itself
// (terminal, --yes, timeout): given answers stand when the step runs again.
func (a Answer) Given() bool { return a.Source == AnswerFlag || a.Source == AnswerCommand }

// How says in words how the answer came: "rbflow answer, pid 42 on
// /dev/pts/3", "--answer", "the terminal", "default on timeout".
func (a Answer) How() string {
	switch a.Source {
	case AnswerFlag:
		return "--answer"
	case AnswerCommand:
		if a.Via != "" {
			return a.Via
		}
		return "rbflow answer"
	case AnswerTerminal:
		if a.Via != "" {
			return "the terminal " + a.Via
		}
		return "the terminal"
	case AnswerYes:
		return "--yes"
	case AnswerDefault:
		return "--yes: the default"
	case AnswerTimeout:
		return "the default, when the wait ran out"
	}
	return a.Source
}

// Asked is a question a prompt step put to a person: what it asked, when,
// and until when it waits before taking its default (zero: no limit).
// rbflow answer checks an answer against it.
type Asked struct {
	RunID string
	Question
	AskedAt time.Time
	Until   time.Time
	// Where is the rbflow process that waits: its host and pid, and
	// whether it waits on a terminal.
	Where string
}

// AnswerStore keeps the answers to prompt steps: those given for a step
// before it asks (rbflow run/resume --answer, rbflow answer), so that a
// resumed run still has them, and those a step took itself (terminal,
// --yes, timeout), with who answered, when and how. It also keeps the
// questions steps asked, so that rbflow answer can check an answer before
// it records it.
type AnswerStore interface {
	// SaveAnswer records an answer to a step's prompt, replacing an
	// earlier one for that step. The run must exist.
	SaveAnswer(ctx context.Context, a Answer) error
	// Answers returns a run's answers, oldest first, each with the text of
	// the question its step asked if there is one.
	Answers(ctx context.Context, runID string) ([]Answer, error)
	// Answer returns the answer recorded for one step; an error wrapping
	// ErrNotFound if there is none. It is one lookup by key: a waiting
	// prompt calls it a few times a second.
	Answer(ctx context.Context, runID, stepID string) (*Answer, error)
	// SaveQuestion records the question a step asks, replacing an
	// earlier one. The run must exist.
	SaveQuestion(ctx context.Context, q Asked) error
	// Question returns the question a step asked last; an error wrapping
	// ErrNotFound if it asked none.
	Question(ctx context.Context, runID, stepID string) (*Asked, error)
}

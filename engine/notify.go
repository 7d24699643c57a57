package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/spec"
	"github.com/rbflow/rbflow/engine/webhook"
)

// Notification is a compiled notification hook of a procedure
// (spec.Notification): a webhook told of a run's start, failure, passing
// of its target and finish.
type Notification struct {
	Spec *spec.Notification
	URL  *eval.Template
	Text *eval.Template // the headline; nil: the default one
}

// On reports whether the hook fires on event.
func (n *Notification) On(event string) bool { return slices.Contains(n.Spec.On, event) }

// What a hook does when its webhook does not answer well: each event is
// posted up to hookAttempts times (only after no answer, a 429 or a 5xx),
// each waiting hookTimeout unless the hook sets its own timeout.
const (
	hookTimeout  = 10 * time.Second
	hookAttempts = 3
	hookDelay    = time.Second
)

// notification compiles a hook; problems are reported and nil returned.
func (c *compiler) notification(n *spec.Notification) *Notification {
	if n.URL == nil {
		return nil // reported by the decoder
	}
	h := &Notification{Spec: n}
	if h.URL = c.template(n.URL, ""); h.URL == nil {
		return nil
	}
	if h.URL.IsLiteral() {
		if _, err := webhook.CheckURL(n.URL.Str); err != nil {
			c.errorf(n.URL.Pos, "", "notification url: %v", err)
			return nil
		}
	}
	if n.Text != nil {
		if h.Text = c.template(n.Text, ""); h.Text == nil {
			return nil
		}
	}
	if h.On(spec.NotifyOverTarget) && c.proc.Target <= 0 {
		c.errorf(n.Pos, "", "a notification on over_target needs the procedure's target: (such as target: 15m), the time the run is measured against")
		return nil
	}
	return h
}

// NotificationWarnings are what a run must still tell of its notification
// hooks: each event of attempt generation that was not delivered.
func NotificationWarnings(sent []SentNotification, generation int) []string {
	var w []string
	for _, n := range sent {
		if n.Generation == generation && n.Error != "" {
			w = append(w, notDelivered(n.Hook, n.Event, n.Error))
		}
	}
	return w
}

func notDelivered(hook int, event, why string) string {
	return fmt.Sprintf("notification %d (%s) was not delivered: %s", hook+1, event, why)
}

// notifier sends a run's notification hooks beside its steps, one event
// after another in the order the run meets them, so that a slow webhook
// does not hold up a rollback (only the run's end waits for them). Each
// event of a hook fires once per run attempt: what was sent is recorded in
// the store, and a resumed execution skips it.
type notifier struct {
	x     *execution
	queue chan hookSend
	done  chan struct{} // closed when the queue is drained
	stop  chan struct{} // ends the over_target timer
	timed chan struct{} // closed when the timer has ended
	begun chan struct{} // closed once start is queued: over_target never comes first
	once  sync.Once

	mu       sync.Mutex
	fired    map[hookEvent]bool // sent or queued in this attempt
	closed   bool
	warnings []string
}

// hookEvent is one event of one hook (by its place in the list).
type hookEvent struct {
	hook  int
	event string
}

type hookSend struct {
	hook   *Notification
	event  string
	url    string
	msg    webhook.Message
	renErr error // the URL or text could not be rendered
}

// startNotifier starts the hooks of x's plan (nil when it has none): it
// reads what earlier executions of this attempt sent and, when a hook
// fires on over_target, arms the timer of the run's target.
func (x *execution) startNotifier(ctx context.Context) *notifier {
	hooks := x.plan.Notifications
	if len(hooks) == 0 {
		return nil
	}
	n := &notifier{x: x, queue: make(chan hookSend, len(hooks)*len(spec.NotifyEvents)), done: make(chan struct{}),
		stop: make(chan struct{}), timed: make(chan struct{}), begun: make(chan struct{}), fired: map[hookEvent]bool{}}
	sent, err := x.r.Store.Notifications(ctx, x.run.ID)
	if err != nil {
		n.warn(fmt.Sprintf("notifications: cannot read what this run sent before (%v): events sent then are sent again", err))
	}
	for _, s := range sent {
		if s.Generation == x.run.Generation {
			n.fired[hookEvent{s.Hook, s.Event}] = true
		}
	}
	n.warnings = append(n.warnings, NotificationWarnings(sent, x.run.Generation)...)

	// Sends go on after Ctrl-C (the run's end is told), not after a
	// second one.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(n.done)
		defer cancel()
		for s := range n.queue {
			n.send(sctx, s)
		}
	}()
	go func() {
		select {
		case <-x.r.Hurry:
			cancel()
		case <-n.done:
		}
	}()

	go func() {
		defer close(n.timed)
		target := x.run.Target
		if target <= 0 || !slices.ContainsFunc(hooks, func(h *Notification) bool { return h.On(spec.NotifyOverTarget) }) {
			return
		}
		select {
		case <-n.begun:
		case <-n.stop:
			return
		}
		t := time.NewTimer(max(0, target-time.Since(x.run.StartedAt)))
		defer t.Stop()
		select {
		case <-t.C:
			n.fire(ctx, spec.NotifyOverTarget, RunRunning, "")
		case <-n.stop:
		}
	}()
	return n
}

// warn keeps a warning of the run and tells it now.
func (n *notifier) warn(msg string) {
	msg = n.x.mask.String(msg)
	n.mu.Lock()
	n.warnings = append(n.warnings, msg)
	n.mu.Unlock()
	n.x.r.emit(Event{Kind: "run_warning", RunID: n.x.run.ID, Message: msg})
}

// fire queues event for every hook that fires on it and has not sent it
// in this attempt, its text made now: status and failedStep are the run's
// as the event tells them.
func (n *notifier) fire(ctx context.Context, event string, status RunStatus, failedStep string) {
	if n == nil {
		return
	}
	var due []*Notification
	n.mu.Lock()
	for _, h := range n.x.plan.Notifications {
		k := hookEvent{h.Spec.Index, event}
		if h.On(event) && !n.fired[k] && !n.closed {
			n.fired[k] = true
			due = append(due, h)
		}
	}
	n.mu.Unlock()
	for _, h := range due {
		s := n.x.hookSend(ctx, h, event, status, failedStep)
		if s.renErr == nil && strings.TrimSpace(s.url) == "" {
			continue // an optional webhook param not given: the hook is off
		}
		n.mu.Lock()
		if !n.closed {
			n.queue <- s // never blocks: one place per hook and event
		}
		n.mu.Unlock()
	}
	if event == spec.NotifyStart {
		// The start is queued (or was sent before a resume): the
		// over_target timer may go now, and its post comes after.
		n.once.Do(func() { close(n.begun) })
	}
}

// send posts one event and records it, delivered or not.
func (n *notifier) send(ctx context.Context, s hookSend) {
	x := n.x
	rec := SentNotification{RunID: x.run.ID, Generation: x.run.Generation, Hook: s.hook.Spec.Index, Event: s.event}
	var err error
	if err = s.renErr; err == nil {
		timeout := s.hook.Spec.Timeout
		if timeout <= 0 {
			timeout = hookTimeout
		}
		rec.Status, _, err = webhook.Deliver(ctx, s.url, s.hook.Spec.Format, s.msg, timeout, hookAttempts, hookDelay)
		if err != nil && ctx.Err() != nil {
			return // stopped at once: not sent, resume sends it
		}
	}
	if err != nil {
		rec.Error = x.mask.String(err.Error())
	}
	// Recorded before it is told: what is told as sent is not sent again.
	if serr := x.r.Store.SaveNotification(context.WithoutCancel(ctx), rec); serr != nil {
		n.warn(fmt.Sprintf("notification %d (%s): %v; resume may send it again", rec.Hook+1, rec.Event, serr))
	}
	if err != nil {
		n.warn(notDelivered(rec.Hook, rec.Event, rec.Error))
	} else {
		x.r.emit(Event{Kind: "run_notice", RunID: x.run.ID, Message: fmt.Sprintf("notification %d (%s) delivered: the webhook answered %d", rec.Hook+1, rec.Event, rec.Status)})
	}
}

// end fires the events of the run's end (a run that finished: failure,
// over_target, finish) and waits until every queued event is sent. It
// returns the warnings of the run's hooks in this attempt.
func (n *notifier) end(ctx context.Context, status RunStatus, failedStep string) []string {
	if n == nil {
		return nil
	}
	close(n.stop)
	<-n.timed
	if status.Finished() {
		if status == RunFailed {
			n.fire(ctx, spec.NotifyFailure, status, failedStep)
		}
		if t := n.x.run.Target; t > 0 && time.Since(n.x.run.StartedAt) > t {
			n.fire(ctx, spec.NotifyOverTarget, status, failedStep)
		}
		n.fire(ctx, spec.NotifyFinish, status, failedStep)
	}
	n.mu.Lock()
	n.closed = true
	close(n.queue)
	n.mu.Unlock()
	<-n.done
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.warnings)
}

// hookSend makes what a hook posts for event: its URL and text rendered
// with the run's data (status and failed step as the event tells them),
// and the facts every notification states, secrets masked.
func (x *execution) hookSend(ctx context.Context, h *Notification, event string, status RunStatus, failedStep string) hookSend {
	s := hookSend{hook: h, event: event}
	data := x.data(ctx, nil, eval.Status{Success: status != RunFailed, Failure: status == RunFailed})
	data.Run.Status, data.Run.FailedStep = string(status), failedStep
	env := x.plan.eval.Env(data)
	if s.url, s.renErr = h.URL.Render(env); s.renErr != nil {
		s.renErr = fmt.Errorf("url: %w", s.renErr)
		return s
	}
	headline := x.headline(event, status, failedStep)
	if h.Text != nil {
		if headline, s.renErr = h.Text.Render(env); s.renErr != nil {
			s.renErr = fmt.Errorf("text: %w", s.renErr)
			return s
		}
	}
	s.msg = webhook.Message{Title: x.mask.String(strings.TrimSpace(headline)), Text: x.mask.String(x.facts(status, failedStep))}
	return s
}

// headline is a hook's default headline for event.
func (x *execution) headline(event string, status RunStatus, failedStep string) string {
	p := x.run.Procedure
	switch event {
	case spec.NotifyStart:
		return fmt.Sprintf("rbflow: %s started", p)
	case spec.NotifyFailure:
		if failedStep != "" {
			return fmt.Sprintf("rbflow: %s failed at step %s", p, failedStep)
		}
		return fmt.Sprintf("rbflow: %s failed", p)
	case spec.NotifyOverTarget:
		return fmt.Sprintf("rbflow: %s is over its %s target", p, x.run.Target)
	}
	if status == RunFailed && failedStep != "" {
		return fmt.Sprintf("rbflow: %s failed at step %s", p, failedStep)
	}
	return fmt.Sprintf("rbflow: %s %s", p, status)
}

// facts are what every notification states: procedure, run, status,
// repository, duration against the target, and the failed step with its
// error.
func (x *execution) facts(status RunStatus, failedStep string) string {
	run := x.run
	var b strings.Builder
	line := func(k, format string, args ...any) {
		fmt.Fprintf(&b, "- **%s**: %s\n", k, fmt.Sprintf(format, args...))
	}
	line("Procedure", "%s", run.Procedure)
	if run.Generation > 1 {
		line("Run", "%s (attempt %d)", run.ID, run.Generation)
	} else {
		line("Run", "%s", run.ID)
	}
	line("Status", "%s", status)
	repo := run.Repo
	if repo == "" {
		repo = "(not a git repository) " + x.base
	}
	line("Repository", "%s", repo)
	took := time.Since(run.StartedAt)
	switch t := run.Target; {
	case t > 0 && took > t:
		line("Duration", "%s (target %s: over by %s)", rounded(took), t, rounded(took-t))
	case t > 0:
		line("Duration", "%s (target %s)", rounded(took), t)
	default:
		line("Duration", "%s", rounded(took))
	}
	if failedStep != "" {
		why := ""
		x.mu.Lock()
		if rec, ok := x.recs[failedStep]; ok {
			why, _, _ = strings.Cut(strings.TrimSpace(rec.Error), "\n")
		}
		x.mu.Unlock()
		why = webhook.Cut(why, 300)
		if why != "" {
			line("Failed step", "%s: %s", failedStep, why)
		} else {
			line("Failed step", "%s", failedStep)
		}
	}
	if status == RunFailed {
		line("Next", "rbflow status %s; rbflow resume %s", run.ID, run.ID)
	}
	return b.String()
}

// rounded is d as a person reads it: to the second from a minute on, to
// the tenth of a second below.
func rounded(d time.Duration) time.Duration {
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

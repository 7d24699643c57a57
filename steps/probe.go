package steps

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/proc"
)

// Probe kinds: what wait steps and service readiness poll.
const (
	probeHTTP    = "http"
	probeTCP     = "tcp"
	probeCommand = "command"
)

var probeKinds = []string{probeHTTP, probeTCP, probeCommand}

// Defaults of a probe's timing.
const (
	defaultProbeInterval = time.Second
	defaultProbeTimeout  = time.Minute
	// maxAttemptTime bounds one HTTP request or connection attempt, so that
	// a server that accepts and never answers is asked again.
	maxAttemptTime = 10 * time.Second
	minAttemptTime = time.Second
)

// probe is one readiness check, polled until it passes or its time is up.
// wait steps and service: start share it.
type probe struct {
	kind     string      // http, tcp, command
	target   string      // URL, address or the command's text
	script   eval.Script // command: what bash runs
	statuses statusSet
	body     *regexp.Regexp // http: the body must match; nil: any body
	interval time.Duration
	timeout  time.Duration
	dir      string   // command: working directory
	env      []string // command: environment
}

// probeResult is the outcome of one attempt.
type probeResult struct {
	ok     bool
	status any    // HTTP status code, command exit code, or "open" / "closed"
	text   string // the attempt as a person reads it
}

// pollOutcome is what a finished poll reports.
type pollOutcome struct {
	last     probeResult
	attempts int
	elapsed  time.Duration
}

// outputs are the step outputs of a poll.
func (o pollOutcome) outputs() map[string]any {
	return map[string]any{
		"status":   o.last.status,
		"attempts": o.attempts,
		"elapsed":  o.elapsed.Seconds(),
		"result":   o.last.text,
		"ok":       o.last.ok,
	}
}

// errNotReady is wrapped by the error of a poll that ran out of time.
var errNotReady = errors.New("not ready")

// poll runs p until an attempt passes, p.timeout passes or ctx ends. check,
// if set, is asked before every attempt and stops the poll with its error
// (a service that exited is never going to be ready). Changes of result are
// written to log.
func (p *probe) poll(ctx context.Context, log io.Writer, hurry <-chan struct{}, check func() error) (pollOutcome, error) {
	start := time.Now()
	deadline := start.Add(p.timeout)
	var out pollOutcome
	lastText := ""
	for {
		if check != nil {
			if err := check(); err != nil {
				out.elapsed = time.Since(start)
				return out, err
			}
		}
		// An attempt gets at least a second, so that the last one is not
		// cut short into a meaningless timeout by the poll's own deadline.
		attemptTime := time.Until(deadline)
		if attemptTime < minAttemptTime {
			attemptTime = minAttemptTime
		}
		actx, cancel := context.WithTimeout(ctx, attemptTime)
		out.last = p.attempt(actx, hurry)
		cancel()
		out.attempts++
		out.elapsed = time.Since(start)
		if out.last.text != lastText {
			fmt.Fprintf(log, "probe %d (%s): %s\n", out.attempts, out.elapsed.Round(time.Millisecond), out.last.text)
			lastText = out.last.text
		}
		if out.last.ok {
			return out, nil
		}
		if ctx.Err() != nil {
			return out, fmt.Errorf("%w; last probe: %s", context.Cause(ctx), out.last.text)
		}
		wait := p.interval
		if left := time.Until(deadline); left <= 0 {
			return out, fmt.Errorf("%w after %s (%d attempts); last probe: %s", errNotReady, p.timeout, out.attempts, out.last.text)
		} else if left < wait {
			wait = left
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
}

// attempt runs the probe once.
func (p *probe) attempt(ctx context.Context, hurry <-chan struct{}) probeResult {
	switch p.kind {
	case probeHTTP:
		return p.httpAttempt(ctx)
	case probeTCP:
		return p.tcpAttempt(ctx)
	default:
		return p.commandAttempt(ctx, hurry)
	}
}

// probeClient does not follow redirects: a 3xx answer is an answer.
var probeClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func (p *probe) httpAttempt(ctx context.Context) probeResult {
	ctx, cancel := context.WithTimeout(ctx, maxAttemptTime)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.target, nil)
	if err != nil {
		return probeResult{status: 0, text: err.Error()}
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		return probeResult{status: 0, text: err.Error()}
	}
	defer resp.Body.Close()
	text := fmt.Sprintf("GET %s: %s", p.target, resp.Status)
	if !p.statuses.has(resp.StatusCode) {
		return probeResult{status: resp.StatusCode, text: text + " (want " + p.statuses.String() + ")"}
	}
	if p.body != nil {
		b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return probeResult{status: resp.StatusCode, text: fmt.Sprintf("%s, reading body: %v", text, err)}
		}
		if !p.body.Match(b) {
			return probeResult{status: resp.StatusCode, text: fmt.Sprintf("%s, body does not match %q: %s", text, p.body, excerpt(b))}
		}
	}
	return probeResult{ok: true, status: resp.StatusCode, text: text}
}

func (p *probe) tcpAttempt(ctx context.Context) probeResult {
	ctx, cancel := context.WithTimeout(ctx, maxAttemptTime)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", p.target)
	if err != nil {
		return probeResult{status: "closed", text: err.Error()}
	}
	c.Close()
	return probeResult{ok: true, status: "open", text: "connected to " + p.target}
}

func (p *probe) commandAttempt(ctx context.Context, hurry <-chan struct{}) probeResult {
	var out tailBuffer
	code, err := proc.Run(ctx, proc.Command{
		Path: "bash", Args: []string{"--noprofile", "--norc", "-c", p.script.Text},
		Dir: p.dir, Env: withScript(p.env, p.script), Stdout: &out, Stderr: &out, Grace: time.Second,
	}, hurry)
	text := fmt.Sprintf("%s: exit status %d", p.target, code)
	if err != nil {
		text = fmt.Sprintf("%s: %v", p.target, err)
	}
	if s := strings.TrimSpace(out.String()); s != "" {
		text += ": " + excerpt([]byte(s))
	}
	return probeResult{ok: err == nil && code == 0, status: code, text: text}
}

// excerpt is the end of b on one line, short enough for an error message.
func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = "..." + s[len(s)-197:]
	}
	return s
}

// tailBuffer keeps the last few KB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	const keep = 4 << 10
	t.b = append(t.b, p...)
	if len(t.b) > keep {
		t.b = append(t.b[:0], t.b[len(t.b)-keep:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(bytes.ToValidUTF8(t.b, nil)) }

// statusSet is a set of HTTP status codes: "200-399", "200,204", "200".
type statusSet struct {
	ranges [][2]int
	text   string
}

var defaultStatuses = statusSet{ranges: [][2]int{{200, 399}}, text: "200-399"}

func parseStatuses(s string) (statusSet, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return defaultStatuses, nil
	}
	set := statusSet{text: s}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(strings.TrimSpace(hi))
		}
		if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
			return statusSet{}, fmt.Errorf("bad HTTP status %q: use a code (200), a range (200-399) or a list of them (200,204)", part)
		}
		set.ranges = append(set.ranges, [2]int{a, b})
	}
	return set, nil
}

func (s statusSet) has(code int) bool {
	for _, r := range s.ranges {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

func (s statusSet) String() string { return s.text }

// probeSpec is a probe as written, before its values are known: wait
// steps write it as typed with: arguments, service steps inside ready:.
type probeSpec struct {
	kind, target, statuses, body string
	script                       eval.Script // command: target is its text
	shown                        string      // command: the script as people see it (Script.Display)
	interval, timeout            time.Duration
}

// build checks the written values and makes the probe.
func (s probeSpec) build(x *engine.Exec) (*probe, error) {
	p := &probe{kind: s.kind, target: s.target, script: s.script, interval: s.interval, timeout: s.timeout, dir: x.Dir, env: x.Env}
	if p.interval <= 0 {
		p.interval = defaultProbeInterval
	}
	if p.timeout <= 0 {
		p.timeout = defaultProbeTimeout
	}
	if strings.TrimSpace(p.target) == "" {
		return nil, fmt.Errorf("%s probe: empty target", s.kind)
	}
	var err error
	if p.statuses, err = parseStatuses(s.statuses); err != nil {
		return nil, err
	}
	if s.body != "" {
		if p.body, err = regexp.Compile(s.body); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
	}
	if s.kind == probeHTTP && !strings.HasPrefix(p.target, "http://") && !strings.HasPrefix(p.target, "https://") {
		return nil, fmt.Errorf("http probe: %q is not an http:// or https:// URL", p.target)
	}
	if s.kind == probeTCP {
		if _, _, err := net.SplitHostPort(p.target); err != nil {
			return nil, fmt.Errorf("tcp probe: %q is not HOST:PORT: %w", p.target, err)
		}
	}
	return p, nil
}

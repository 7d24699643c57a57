package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/proc"
	"github.com/rbflow/rbflow/engine/secret"
	"github.com/rbflow/rbflow/engine/spec"
)

// serviceKind manages a long-running process: `service: start|stop|restart|status`.
//
// A service is started in a session (and process group) of its own,
// detached from rbflow so that it outlives the run, and recorded in the
// store by repository and name with its pid, process start time and boot
// id before anything waits for it. Whatever stops it later — another step,
// another run, another procedure — signals only that recorded group (or a
// pidfile's process, verified by its start time): never a pattern.
type serviceKind struct{}

var _ engine.Kind = serviceKind{}

// Service operations.
const (
	svcStart   = "start"
	svcStop    = "stop"
	svcRestart = "restart"
	svcStatus  = "status"
)

var serviceNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`) })

// readyKeys are the keys of with.ready.
var readyKeys = []string{probeHTTP, probeTCP, probeCommand, "timeout", "interval", "status", "body"}

// Signature: the operation; every one takes the service's name, start and
// restart also the command and its readiness.
func (serviceKind) Signature() engine.Signature {
	ready := engine.Field{Name: "ready", Type: engine.Any, Description: "when it is ready: an http(s):// URL (answers 2xx/3xx) or a HOST:PORT (accepts connections), or {http: URL | tcp: ADDRESS | command: CMD, timeout, interval, status, body}"}
	return engine.Signature{
		Arg: "what to do with the service (with.name)",
		Actions: []engine.ActionSig{
			{Name: svcStart, Description: "start it detached, in its own process group, and wait until it is ready", With: []engine.Field{
				{Name: "command", Type: engine.String, Required: true, Description: "the command that runs the service"}, ready}},
			{Name: svcStop, Description: "stop what was recorded (or the pidfile's process): TERM, then KILL after the grace period"},
			{Name: svcRestart, Description: "stop it, then start it again", With: []engine.Field{
				{Name: "command", Type: engine.String, Description: "the command that runs the service (default: the recorded one)"}, ready}},
			{Name: svcStatus, Description: "report whether it runs"},
		},
		With: []engine.Field{
			{Name: "name", Type: engine.String, Required: true, Description: "the service's name in this repository"},
			{Name: "dir", Type: engine.String},
			{Name: "env", Type: engine.StringMap},
			{Name: "pidfile", Type: engine.String},
			{Name: "stop", Type: engine.String, Description: "a command that stops a service managed elsewhere"},
			{Name: "grace", Type: engine.Duration, Description: "how long TERM has before KILL"},
		},
	}
}

func (serviceKind) Compile(c *engine.KindContext) engine.Action {
	op := c.Action()
	args := c.With()
	good := true
	if v, lit := args.Literal("name"); lit && !serviceNameRE().MatchString(fmt.Sprint(v)) {
		c.Errorf(args.Pos("name"), "with.name %q: a service name is letters, digits, '.', '_' and '-'", v)
		good = false
	}
	a := &serviceAction{op: op, args: args, command: shellArg(c, args, "command"), stop: shellArg(c, args, "stop")}
	if args.Has("command") && a.command == nil || args.Has("stop") && a.stop == nil {
		good = false
	}
	if args.Has("ready") {
		if a.ready = checkReady(c, c.Step.With.Get("ready")); a.ready == nil {
			good = false
		}
	}
	if !good {
		return nil
	}
	return a
}

// shellArg returns the template of a with: argument that is shell code
// (bash -c runs it), to be evaluated with x.Shell: as in run: scripts, the
// values reach bash in environment variables, so no param value can change
// the command's syntax.
func shellArg(c *engine.KindContext, args *engine.Args, name string) *eval.Template {
	if !args.Has(name) {
		return nil
	}
	return c.ShellTemplate(c.Step.With.Get(name), "bash")
}

// readyEither is the key checkReady files with.ready under when it is one
// string: an http probe when its value is an http(s):// URL, a tcp probe
// otherwise. Decided when the step runs, so that the value may come from
// a param or an item.
const readyEither = ""

// isURL reports whether a readiness target is an http probe's.
func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// checkReady checks with.ready at load time and compiles its values; nil
// when it is wrong. It is one string (readyEither) or a map of readyKeys.
func checkReady(c *engine.KindContext, v *spec.Value) map[string]*eval.Template {
	if v.Kind == spec.Scalar {
		t := c.Template(v)
		if t == nil {
			return nil
		}
		if lit := strings.TrimSpace(v.Str); t.IsLiteral() && !isURL(lit) {
			if _, _, err := net.SplitHostPort(lit); err != nil {
				c.Errorf(v.Pos, "with.ready %q is neither an http(s):// URL nor a HOST:PORT such as 127.0.0.1:8000", v.Str)
				return nil
			}
		}
		return map[string]*eval.Template{readyEither: t}
	}
	if v.Kind != spec.Map {
		c.Errorf(v.Pos, "with.ready must be a URL, a HOST:PORT or a map {http: URL | tcp: ADDRESS | command: CMD, timeout, interval, status, body}, not %s", v.TypeName())
		return nil
	}
	ok := true
	ts := map[string]*eval.Template{}
	var kinds []string
	for _, e := range v.Map {
		known := false
		for _, k := range readyKeys {
			known = known || k == e.Key
		}
		if !known {
			h := spec.Hint(e.Key, readyKeys)
			c.Errorf(e.KeyPos, "unknown key %q in with.ready%s; it takes %s", e.Key, h, strings.Join(readyKeys, ", "))
			ok = false
			continue
		}
		if e.Value.Kind != spec.Scalar {
			c.Errorf(e.Value.Pos, "with.ready.%s must be a single value, not %s", e.Key, e.Value.TypeName())
			ok = false
			continue
		}
		lit := !strings.Contains(e.Value.Str, "${{")
		switch e.Key {
		case probeHTTP, probeTCP, probeCommand:
			kinds = append(kinds, e.Key) // written, even if its value is wrong
		}
		if e.Key == probeCommand {
			ts[e.Key] = c.ShellTemplate(e.Value, "bash")
		} else {
			ts[e.Key] = c.Template(e.Value)
		}
		if ts[e.Key] == nil {
			ok = false
			continue
		}
		switch e.Key {
		case "timeout", "interval":
			if lit {
				if d, err := time.ParseDuration(e.Value.Str); err != nil || d <= 0 {
					c.Errorf(e.Value.Pos, "with.ready.%s: bad duration %q: use a Go duration such as 500ms, 30s or 2m", e.Key, e.Value.Str)
					ok = false
				}
			}
		case "status":
			if _, err := parseStatuses(e.Value.Str); lit && err != nil {
				c.Errorf(e.Value.Pos, "with.ready.status: %v", err)
				ok = false
			}
		case "body":
			if _, err := regexp.Compile(e.Value.Str); lit && err != nil {
				c.Errorf(e.Value.Pos, "with.ready.body: %v", err)
				ok = false
			}
		}
	}
	if len(kinds) != 1 {
		c.Errorf(v.Pos, "with.ready needs exactly one of http, tcp or command (got %d)", len(kinds))
		return nil
	}
	if kinds[0] != probeHTTP && (v.Get("status") != nil || v.Get("body") != nil) {
		c.Errorf(v.Pos, "with.ready: status and body are for http readiness only")
		return nil
	}
	if !ok {
		return nil
	}
	return ts
}

type serviceAction struct {
	op            string
	args          *engine.Args
	command, stop *eval.Template            // shell code
	ready         map[string]*eval.Template // with.ready, by key
}

// DefaultOnResume: every operation checks what runs before it acts (start
// adopts the service it started before rbflow was cut off), so running one
// again is safe.
func (a *serviceAction) DefaultOnResume() string { return "rerun" }

// serviceConfig is a service step's arguments, evaluated.
type serviceConfig struct {
	name, dir, pidfile string
	command, stop      eval.Script
	// record is command as the store keeps it (recordCommand), secretEnv
	// the variables that carry the secrets it refers to.
	record    string
	secretEnv []string
	// secrets are the run's secret values: the service's log never holds
	// them.
	secrets []string
	env     []string
	ready   *probeSpec
	grace   time.Duration
}

func (a *serviceAction) config(x *engine.Exec) (*serviceConfig, error) {
	cfg := &serviceConfig{}
	var err error
	if cfg.name, err = x.String(a.args, "name"); err != nil {
		return nil, err
	}
	if !serviceNameRE().MatchString(cfg.name) {
		return nil, fmt.Errorf("with.name %q: a service name is letters, digits, '.', '_' and '-'", x.Mask(cfg.name))
	}
	if cfg.command, err = x.Shell(a.command); err != nil {
		return nil, fmt.Errorf("with.command: %w", err)
	}
	secrets := x.Secrets()
	for _, sv := range secrets {
		cfg.secrets = append(cfg.secrets, sv.Value)
	}
	cfg.record, cfg.secretEnv = recordCommand(cfg.command, secrets)
	if cfg.stop, err = x.Shell(a.stop); err != nil {
		return nil, fmt.Errorf("with.stop: %w", err)
	}
	dir, err := x.String(a.args, "dir")
	if err != nil {
		return nil, err
	}
	cfg.dir = x.Dir
	if dir != "" {
		cfg.dir = dir
		if !filepath.IsAbs(dir) {
			cfg.dir = filepath.Join(x.Dir, dir)
		}
	}
	if cfg.pidfile, err = x.String(a.args, "pidfile"); err != nil {
		return nil, err
	}
	if cfg.pidfile != "" && !filepath.IsAbs(cfg.pidfile) {
		cfg.pidfile = filepath.Join(cfg.dir, cfg.pidfile)
	}
	env, err := x.StringMap(a.args, "env")
	if err != nil {
		return nil, err
	}
	cfg.env = append([]string{}, x.Env...)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cfg.env = append(cfg.env, k+"="+env[k])
	}
	if cfg.grace, err = x.Duration(a.args, "grace"); err != nil {
		return nil, err
	}
	if cfg.grace <= 0 {
		cfg.grace = x.Grace
	}
	if cfg.grace <= 0 {
		cfg.grace = 10 * time.Second
	}
	if a.ready != nil {
		if cfg.ready, err = readySpec(x, a.ready); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// readySpec evaluates with.ready into a probe.
func readySpec(x *engine.Exec, ready map[string]*eval.Template) (*probeSpec, error) {
	vals := map[string]string{}
	var script eval.Script
	for k, t := range ready {
		var err error
		if k == probeCommand {
			script, err = x.Shell(t)
			vals[k] = script.Text
		} else {
			vals[k], err = x.Render(t)
		}
		if err != nil {
			return nil, fmt.Errorf("with.ready.%s: %w", k, err)
		}
	}
	s := &probeSpec{statuses: vals["status"], body: vals["body"], script: script, shown: script.Display(x.Mask)}
	for _, k := range probeKinds {
		if t, ok := vals[k]; ok {
			s.kind, s.target = k, t
		}
	}
	if t, ok := vals[readyEither]; ok {
		s.kind, s.target = probeTCP, strings.TrimSpace(t)
		if isURL(s.target) {
			s.kind = probeHTTP
		}
	}
	for k, d := range map[string]*time.Duration{"timeout": &s.timeout, "interval": &s.interval} {
		if t := vals[k]; t != "" {
			var err error
			if *d, err = time.ParseDuration(t); err != nil || *d <= 0 {
				return nil, fmt.Errorf("with.ready.%s: bad duration %q", k, x.Mask(t))
			}
		}
	}
	return s, nil
}

// Describe says what the step would do.
func (a *serviceAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	cfg, err := a.config(x)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "service %s %s", a.op, cfg.name)
	if a.op == svcStart || a.op == svcRestart {
		if cfg.command.Text != "" {
			fmt.Fprintf(&b, ": %s (in %s)", cfg.command.Display(x.Mask), cfg.dir)
		} else {
			b.WriteString(" with the command it was started with")
		}
		if cfg.ready != nil {
			fmt.Fprintf(&b, "; then %s", describeProbe(*cfg.ready))
		}
	}
	if (a.op == svcStop || a.op == svcRestart) && cfg.stop.Text != "" {
		fmt.Fprintf(&b, "; stop command: %s", cfg.stop.Display(x.Mask))
	}
	return x.Mask(b.String()), nil
}

func (a *serviceAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	cfg, err := a.config(x)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	st := x.Services()
	rec, err := st.Service(ctx, x.Repo, cfg.name)
	if errors.Is(err, engine.ErrNotFound) {
		rec, err = nil, nil
	}
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	s := &serviceRun{x: x, st: st, cfg: cfg, rec: rec}
	var res engine.Result
	switch a.op {
	case svcStart:
		res, err = s.start(ctx)
	case svcStop:
		res, err = s.stop(ctx)
	case svcRestart:
		if cfg.command.Text == "" {
			if rec == nil {
				return engine.Result{ExitCode: -1}, fmt.Errorf("service: restart of %s needs with.command: no service of that name was ever started in this repository", cfg.name)
			}
			if err := s.fromRecord(); err != nil {
				return engine.Result{ExitCode: -1}, err
			}
		}
		if res, err = s.stop(ctx); err == nil {
			res, err = s.start(ctx)
		}
	case svcStatus:
		res, err = s.status()
	}
	if err != nil && res.ExitCode == 0 {
		res.ExitCode = 1
	}
	return res, err
}

// secretVarPrefix starts the name of each variable that carries a secret
// into a service's command run again from its record.
const secretVarPrefix = "RBFLOW_SECRET_"

// secretVar names the variable that carries sv into a service's command:
// RBFLOW_SECRET_TOKEN for param token, RBFLOW_SECRET_KEYS_item2 for the
// second item of list param keys (param names are lower case, so an item
// cannot take another param's name).
func secretVar(sv engine.SecretValue) string {
	name := secretVarPrefix + strings.ToUpper(sv.Param)
	if sv.Item > 0 {
		name += "_item" + strconv.Itoa(sv.Item)
	}
	return name
}

var secretRefRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`"\$\{(` + secretVarPrefix + `[A-Z0-9_]+(?:_item[0-9]+)?)\}"`)
})

// secretParam says which param a secretVar name stands for.
func secretParam(name string) string {
	p, item, ok := strings.Cut(strings.TrimPrefix(name, secretVarPrefix), "_item")
	if ok {
		return fmt.Sprintf("item %s of secret param %s", item, strings.ToLower(p))
	}
	return "secret param " + strings.ToLower(p)
}

// recordCommand returns cmd as the store keeps it, self-contained so that
// restart can run it again: as Script.String, but with every secret value
// written as a reference to its secretVar, never in clear. It also returns
// the entries of those variables, which the service gets in its
// environment whenever it starts.
func recordCommand(cmd eval.Script, secrets []engine.SecretValue) (string, []string) {
	if len(secrets) == 0 {
		return cmd.String(), nil
	}
	byValue := map[string]engine.SecretValue{}
	var values []string
	for _, sv := range secrets {
		if _, ok := byValue[sv.Value]; !ok {
			byValue[sv.Value] = sv
			values = append(values, sv.Value)
		}
	}
	set := secret.NewSet(values)
	var env []string
	used := map[string]bool{}
	rec := cmd.Record(func(value string) []eval.Piece {
		var out []eval.Piece
		for _, p := range set.Split(value) {
			if !p.Secret {
				out = append(out, eval.Piece{Text: p.Text})
				continue
			}
			name := secretVar(byValue[p.Text])
			if !used[name] {
				used[name] = true
				env = append(env, name+"="+p.Text)
			}
			out = append(out, eval.Piece{Ref: name})
		}
		return out
	})
	return rec, env
}

// fromRecord makes the recorded command the one restart starts. The record
// refers to the secrets the command was started with, which rbflow does
// not store: they come from this run's secret params of the same names.
func (s *serviceRun) fromRecord() error {
	x, cfg, rec := s.x, s.cfg, s.rec
	have := map[string]string{}
	for _, sv := range x.Secrets() {
		have[secretVar(sv)] = sv.Value
	}
	var env, from, missing []string
	seen := map[string]bool{}
	for _, m := range secretRefRE().FindAllStringSubmatch(rec.Command, -1) {
		name := m[1]
		if seen[name] {
			continue
		}
		seen[name] = true
		v, ok := have[name]
		if !ok {
			missing = append(missing, secretParam(name))
			continue
		}
		env = append(env, name+"="+v)
		from = append(from, secretParam(name))
	}
	if len(missing) > 0 {
		return fmt.Errorf("service: restart of %s: it was started with a command that takes the %s, and rbflow does not store secrets; this run has no such param: declare it (secret: true) and give it, or give with.command",
			cfg.name, strings.Join(missing, ", "))
	}
	cfg.command, cfg.dir, cfg.record, cfg.secretEnv = eval.Script{Text: rec.Command}, rec.Dir, rec.Command, env
	fmt.Fprintf(x.Log, "restarting %s with the command it was started with: %s\n", cfg.name, x.Mask(rec.Command))
	if len(from) > 0 {
		fmt.Fprintf(x.Log, "the %s: taken from this run's params, as rbflow does not store secrets\n", strings.Join(from, ", "))
	}
	return nil
}

// secretChanged returns the secret param, if any, whose value differs
// from the one the running service was started with: its processes carry
// it in their environment (the store does not).
func secretChanged(rec *engine.Service, secretEnv []string) string {
	pid := 0
	if leader(rec).Alive() {
		pid = rec.PID
	} else if m := members(rec.PID, rec.PIDStart, marked(rec)); len(m) > 0 {
		pid = m[0].PID
	}
	if pid == 0 {
		return ""
	}
	for _, kv := range secretEnv {
		if !proc.HasEnv(pid, kv) {
			name, _, _ := strings.Cut(kv, "=")
			return secretParam(name)
		}
	}
	return ""
}

// serviceRun is one service step at work.
type serviceRun struct {
	x   *engine.Exec
	st  engine.ServiceStore
	cfg *serviceConfig
	rec *engine.Service // the stored record of the name, nil if none
}

// leader is the recorded process that leads the service's group.
func leader(rec *engine.Service) proc.Identity {
	return proc.Identity{PID: rec.PID, Start: rec.PIDStart}
}

// tokenEnv names the environment entry that marks every process of a
// service rbflow started: its children inherit it.
const tokenEnv = "RBFLOW_SERVICE_TOKEN"

// serviceToken is a service's mark, derived from what the store records of
// it: repository, name and the exact start time.
func serviceToken(repo, name string, started time.Time) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s\x00%s\x00%d", repo, name, started.UnixNano())))
	return tokenEnv + "=" + hex.EncodeToString(sum[:12])
}

// marked returns the test for processes that carry rec's mark: once a
// service's leader is gone, only processes that carry it are taken for
// what is left of the service, never a pid reused by someone else.
func marked(rec *engine.Service) func(proc.Identity) bool {
	token := serviceToken(rec.Repo, rec.Name, rec.StartedAt)
	return func(id proc.Identity) bool { return proc.HasEnv(id.PID, token) }
}

// running reports whether a recorded service still has processes: its
// leader, or marked members of the group the leader founded (a shell that
// exited and left its children behind).
func running(rec *engine.Service) bool {
	if rec == nil || !rec.StoppedAt.IsZero() || rec.BootID != proc.BootID() || rec.PID <= 0 {
		return false
	}
	return leader(rec).Alive() || len(members(rec.PID, rec.PIDStart, marked(rec))) > 0
}

// members returns the live members of group pgid that started no earlier
// than its leader and pass trusted; none when trusted is nil.
func members(pgid int, start uint64, trusted func(proc.Identity) bool) []proc.Identity {
	if trusted == nil {
		return nil
	}
	var out []proc.Identity
	for _, m := range proc.Group(pgid, start) {
		if trusted(m) {
			out = append(out, m)
		}
	}
	return out
}

func (s *serviceRun) outputs(pid int, isRunning bool) map[string]any {
	out := map[string]any{"name": s.cfg.name, "pid": pid, "running": isRunning, "log": "", "url": ""}
	if s.rec != nil {
		out["log"] = s.rec.LogPath
	}
	if s.cfg.ready != nil && s.cfg.ready.kind == probeHTTP {
		out["url"] = s.cfg.ready.target
	}
	return out
}

func (s *serviceRun) start(ctx context.Context) (engine.Result, error) {
	x, cfg := s.x, s.cfg
	if running(s.rec) {
		if s.rec.Command != cfg.record || s.rec.Dir != cfg.dir {
			return engine.Result{Outputs: s.outputs(s.rec.PID, true)}, fmt.Errorf(
				"service %s is already running with another command (pid %d, started by run %s: %s); use service: restart, or stop it first",
				cfg.name, s.rec.PID, s.rec.RunID, x.Mask(s.rec.Command))
		}
		if p := secretChanged(s.rec, cfg.secretEnv); p != "" {
			return engine.Result{Outputs: s.outputs(s.rec.PID, true)}, fmt.Errorf(
				"service %s is already running with another value of the %s (pid %d, started by run %s); use service: restart, or stop it first",
				cfg.name, p, s.rec.PID, s.rec.RunID)
		}
		// Started before (by this step, before rbflow was cut off, or by an
		// earlier run): it is not started twice.
		fmt.Fprintf(x.Log, "service %s is already running (pid %d, started by run %s): not starting it again\n", cfg.name, s.rec.PID, s.rec.RunID)
		res := engine.Result{Outputs: s.outputs(s.rec.PID, true)}
		res.Outputs["started"] = false
		if cfg.ready == nil {
			return res, nil
		}
		id := leader(s.rec)
		err := s.waitReady(ctx, res.Outputs, func() error {
			if !id.Alive() {
				return fmt.Errorf("service %s (pid %d) exited before it was ready", cfg.name, id.PID)
			}
			return nil
		})
		if err != nil && s.rec.RunID == x.RunID && stopOnFailure(ctx) {
			err = s.stopAfterFailure(err)
			res.Outputs["running"] = false
		}
		return res, err
	}

	logPath := filepath.Join(x.RunDir, "service-"+cfg.name+".log")
	svc, exited, err := launch(cfg, x.Repo, logPath)
	if err != nil {
		return engine.Result{ExitCode: -1}, err
	}
	svc.RunID = x.RunID
	// The record comes first: whatever happens next, a later run can find
	// and stop what was started.
	if err := s.st.SaveService(context.WithoutCancel(ctx), *svc); err != nil {
		_, _ = stopGroup(leader(svc), true, marked(svc), cfg.grace, x.Hurry())
		return engine.Result{ExitCode: -1}, fmt.Errorf("record service %s: %w (stopped it again)", cfg.name, err)
	}
	s.rec = svc
	fmt.Fprintf(x.Log, "started service %s: pid %d, log %s\n", cfg.name, svc.PID, logPath)
	if cfg.pidfile != "" {
		if err := writePidfile(cfg.pidfile, svc.PID); err != nil {
			fmt.Fprintf(x.Log, "warning: %v\n", err)
		}
	}
	res := engine.Result{Outputs: s.outputs(svc.PID, true)}
	res.Outputs["started"] = true
	if cfg.ready == nil {
		if r, done := exited.result(); done && r.code != 0 {
			res.Outputs["running"] = false
			return res, fmt.Errorf("service %s exited at once with %s; log %s:\n%s", cfg.name, r, logPath, logTail(logPath))
		}
		return res, nil
	}
	err = s.waitReady(ctx, res.Outputs, func() error {
		r, done := exited.result()
		if !done {
			return nil
		}
		// A launcher (docker compose up -d, systemctl start) exits 0 and
		// leaves the service to someone else: readiness decides.
		if r.code == 0 && cfg.stop.Text != "" {
			return nil
		}
		return fmt.Errorf("service %s exited with %s before it was ready", cfg.name, r)
	})
	if err != nil && stopOnFailure(ctx) {
		err = s.stopAfterFailure(err)
		res.Outputs["running"] = false
	}
	return res, err
}

// stopOnFailure reports whether a service that did not get ready is to be
// stopped: yes when the step failed or timed out, no when rbflow itself
// was stopped (the run is resumable and the resumed step adopts it).
func stopOnFailure(ctx context.Context) bool {
	return ctx.Err() == nil || errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// waitReady polls the readiness probe and sets the probe outputs.
func (s *serviceRun) waitReady(ctx context.Context, outputs map[string]any, check func() error) error {
	p, err := s.cfg.ready.build(s.x)
	if err != nil {
		return err
	}
	p.dir, p.env = s.cfg.dir, s.cfg.env
	fmt.Fprintln(s.x.Log, s.x.Mask(describeProbe(*s.cfg.ready)))
	out, err := p.poll(ctx, s.x.Log, s.x.Hurry(), check)
	outputs["ready_attempts"] = out.attempts
	outputs["ready_seconds"] = out.elapsed.Seconds()
	outputs["ready"] = err == nil
	if err != nil {
		return fmt.Errorf("service %s: %w", s.cfg.name, err)
	}
	fmt.Fprintf(s.x.Log, "service %s is ready after %s\n", s.cfg.name, out.elapsed.Round(time.Millisecond))
	return nil
}

// stopAfterFailure stops the service that did not get ready and says so in
// the step's error.
func (s *serviceRun) stopAfterFailure(cause error) error {
	x, rec := s.x, s.rec
	fmt.Fprintf(x.Log, "%v\n", cause)
	if tail := logTail(rec.LogPath); tail != "" {
		fmt.Fprintf(x.Log, "last lines of %s:\n%s\n", rec.LogPath, tail)
	}
	if _, err := stopGroup(leader(rec), true, marked(rec), s.cfg.grace, x.Hurry()); err != nil {
		return fmt.Errorf("%w; stopping it failed: %v", cause, err)
	}
	ctx := context.Background()
	_ = s.st.MarkServiceStopped(ctx, rec.Repo, rec.Name, time.Now())
	s.removePidfile(rec.PID)
	return fmt.Errorf("%w; stopped it (pid %d); its log: %s", cause, rec.PID, rec.LogPath)
}

func (s *serviceRun) stop(ctx context.Context) (engine.Result, error) {
	x, cfg := s.x, s.cfg
	res := engine.Result{Outputs: s.outputs(0, false)}
	res.Outputs["stopped"] = false
	if cfg.stop.Text != "" {
		fmt.Fprintf(x.Log, "stopping service %s with: %s\n", cfg.name, cfg.stop.Display(x.Mask))
		code, err := proc.Run(ctx, proc.Command{
			Path: "bash", Args: []string{"--noprofile", "--norc", "-c", cfg.stop.Text},
			Dir: cfg.dir, Env: withScript(cfg.env, cfg.stop), Stdout: x.Log, Stderr: x.Log, Grace: cfg.grace,
		}, x.Hurry())
		if err != nil {
			return res, fmt.Errorf("stop command of service %s: %w", cfg.name, err)
		}
		if code != 0 {
			res.ExitCode = code
			return res, fmt.Errorf("stop command of service %s: exit status %d", cfg.name, code)
		}
		res.Outputs["stopped"] = true
	}
	if running(s.rec) {
		res.Outputs["pid"] = s.rec.PID
		// What it ran and where, so that a procedure that fails after the
		// stop can say how to start it again.
		res.Outputs["command"], res.Outputs["dir"] = s.rec.Command, s.rec.Dir
		fmt.Fprintf(x.Log, "stopping service %s: process group %d (started by run %s)\n", cfg.name, s.rec.PID, s.rec.RunID)
		signalled, err := stopGroup(leader(s.rec), true, marked(s.rec), cfg.grace, x.Hurry())
		if err != nil {
			res.Outputs["running"] = true
			return res, fmt.Errorf("stop service %s: %w", cfg.name, err)
		}
		if signalled {
			res.Outputs["stopped"] = true
		}
		if err := s.st.MarkServiceStopped(context.WithoutCancel(ctx), s.rec.Repo, s.rec.Name, time.Now()); err != nil {
			return res, err
		}
		s.removePidfile(s.rec.PID)
		fmt.Fprintf(x.Log, "service %s stopped\n", cfg.name)
		return res, nil
	}
	if s.rec != nil && s.rec.StoppedAt.IsZero() {
		// Recorded as running, but it is gone (it ended, or the machine rebooted).
		_ = s.st.MarkServiceStopped(context.WithoutCancel(ctx), s.rec.Repo, s.rec.Name, time.Now())
	}
	if cfg.pidfile != "" {
		id, group, err := pidfileProcess(cfg.pidfile, s.rec)
		if err != nil {
			return res, err
		}
		if id.PID > 0 {
			res.Outputs["pid"] = id.PID
			fmt.Fprintf(x.Log, "stopping service %s: pid %d from %s\n", cfg.name, id.PID, cfg.pidfile)
			if _, err := stopGroup(id, group, nil, cfg.grace, x.Hurry()); err != nil {
				res.Outputs["running"] = true
				return res, fmt.Errorf("stop service %s: %w", cfg.name, err)
			}
			res.Outputs["stopped"] = true
			_ = os.Remove(cfg.pidfile)
			fmt.Fprintf(x.Log, "service %s stopped\n", cfg.name)
			return res, nil
		}
	}
	if res.Outputs["stopped"] != true {
		fmt.Fprintf(x.Log, "service %s is not running: nothing to stop\n", cfg.name)
	}
	return res, nil
}

func (s *serviceRun) status() (engine.Result, error) {
	x, cfg := s.x, s.cfg
	res := engine.Result{Outputs: s.outputs(0, false)}
	res.Outputs["uptime"] = 0.0
	if running(s.rec) {
		res.Outputs["pid"] = s.rec.PID
		res.Outputs["running"] = true
		res.Outputs["run"] = s.rec.RunID
		up := time.Since(s.rec.StartedAt)
		res.Outputs["uptime"] = up.Seconds()
		fmt.Fprintf(x.Log, "service %s is running: pid %d, up %s, started by run %s: %s\n", cfg.name, s.rec.PID, up.Round(time.Second), s.rec.RunID, x.Mask(s.rec.Command))
		return res, nil
	}
	if cfg.pidfile != "" {
		id, _, err := pidfileProcess(cfg.pidfile, s.rec)
		if errors.Is(err, errUnidentified) {
			res.Outputs["pid"] = id.PID
			res.Outputs["running"] = true
			fmt.Fprintf(x.Log, "service %s: pid %d from %s is running; rbflow did not start it\n", cfg.name, id.PID, cfg.pidfile)
			return res, nil
		}
		if err != nil {
			return res, err
		}
		if id.PID > 0 {
			res.Outputs["pid"] = id.PID
			res.Outputs["running"] = true
			if at, err := proc.StartedAt(id.Start); err == nil {
				res.Outputs["uptime"] = time.Since(at).Seconds()
			}
			fmt.Fprintf(x.Log, "service %s is running: pid %d from %s\n", cfg.name, id.PID, cfg.pidfile)
			return res, nil
		}
	}
	switch {
	case s.rec == nil:
		fmt.Fprintf(x.Log, "service %s was never started in this repository\n", cfg.name)
	default:
		fmt.Fprintf(x.Log, "service %s is not running (last started by run %s, pid %d)\n", cfg.name, s.rec.RunID, s.rec.PID)
	}
	return res, nil
}

func (s *serviceRun) removePidfile(pid int) {
	if s.cfg.pidfile == "" {
		return
	}
	if n, err := readPidfile(s.cfg.pidfile); err == nil && n == pid {
		_ = os.Remove(s.cfg.pidfile)
	}
}

// exitState is how a launched service ended, once it has.
type exitState struct {
	done chan struct{}
	r    exitResult
}

type exitResult struct {
	code int
	err  error
}

func (r exitResult) String() string {
	if r.err != nil {
		return r.err.Error()
	}
	return fmt.Sprintf("exit status %d", r.code)
}

func (e *exitState) result() (exitResult, bool) {
	select {
	case <-e.done:
		return e.r, true
	default:
		return exitResult{}, false
	}
}

// launch starts the service: bash -c COMMAND in a new session (so its own
// process group, no controlling terminal and no SIGHUP or Ctrl-C from
// rbflow's terminal), stdin from /dev/null, output appended to logPath,
// through a relay that masks the run's secrets when it has any
// (proc.StartDetached). It is not run under rbflow's reaper: a service
// outlives the run.
func launch(cfg *serviceConfig, repo, logPath string) (*engine.Service, *exitState, error) {
	if fi, err := os.Stat(cfg.dir); err != nil || !fi.IsDir() {
		return nil, nil, fmt.Errorf("service %s: dir %s does not exist", cfg.name, cfg.dir)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("service %s: open log: %w", cfg.name, err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- rbflow: starting %s at %s\n", cfg.name, time.Now().UTC().Format(time.RFC3339))
	started := time.Now()
	env := append(withScript(cfg.env, cfg.command), cfg.secretEnv...)
	cmd, err := proc.StartDetached(proc.Detached{
		Path: "bash", Args: []string{"--noprofile", "--norc", "-c", cfg.command.Text},
		Dir: cfg.dir, Env: append(env, serviceToken(repo, cfg.name, started)),
		Log: logf, Secrets: cfg.secrets,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("start service %s: %w", cfg.name, err)
	}
	pid := cmd.Process.Pid
	// Until it is waited for, the process exists at least as a zombie, so
	// its start time can be read even if it has already exited.
	start, err := proc.StartTime(pid)
	if err != nil {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, nil, fmt.Errorf("start service %s: read its start time: %w", cfg.name, err)
	}
	ex := &exitState{done: make(chan struct{})}
	go func() {
		// Reap it if it ends while rbflow runs; otherwise it is handed to
		// init when rbflow exits.
		err := cmd.Wait()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			ex.r.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				ex.r.err = fmt.Errorf("signal %s", ws.Signal())
				ex.r.code = 128 + int(ws.Signal())
			}
		case err != nil:
			ex.r.code, ex.r.err = -1, err
		}
		close(ex.done)
	}()
	svc := &engine.Service{
		Repo: repo, Name: cfg.name, PID: pid, PIDStart: start, BootID: proc.BootID(), Command: cfg.record,
		Dir: cfg.dir, LogPath: logPath, StartedAt: started,
	}
	return svc, ex, nil
}

// stopGroup ends a service: SIGTERM, then SIGKILL after grace (at once when
// hurry is closed), to the whole process group when group is set, else to
// the one process. While id (verified by its start time) lives, its group
// is the one it founded and is signalled as a whole; once it is gone, only
// the members trusted vouches for are (nil: none). It reports whether
// anything was signalled.
func stopGroup(id proc.Identity, group bool, trusted func(proc.Identity) bool, grace time.Duration, hurry <-chan struct{}) (bool, error) {
	left := func() []proc.Identity {
		if !group {
			return nil
		}
		return members(id.PID, id.Start, trusted)
	}
	gone := func() bool { return !id.Alive() && len(left()) == 0 }
	signal := func(sig syscall.Signal) {
		if id.Alive() {
			// Verified just now; a live group leader keeps its group id.
			if group {
				_ = syscall.Kill(-id.PID, sig)
			} else {
				_ = syscall.Kill(id.PID, sig)
			}
			return
		}
		for _, m := range left() {
			if m.Alive() {
				_ = syscall.Kill(m.PID, sig)
			}
		}
	}
	if gone() {
		return false, nil
	}
	signal(syscall.SIGTERM)
	if waitGone(gone, grace, hurry) {
		return true, nil
	}
	signal(syscall.SIGKILL)
	if waitGone(gone, 5*time.Second, nil) {
		return true, nil
	}
	return true, fmt.Errorf("pid %d is still running after SIGKILL", id.PID)
}

// waitGone polls gone until it holds, d passes or hurry is closed.
func waitGone(gone func() bool, d time.Duration, hurry <-chan struct{}) bool {
	deadline := time.Now().Add(d)
	for !gone() {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-hurry:
			return gone()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// errUnidentified is the error of a pidfile whose process rbflow cannot
// identify as the service's.
var errUnidentified = errors.New("not a process rbflow started")

// pidfileProcess reads a pidfile and returns its process when rbflow can
// tell it is the service's: the process rbflow recorded when it started the
// service (same pid and start time), or one of its descendants, which carry
// the service's token in their environment. A pidfile's time proves
// nothing (undo, a copy or a restore gives an old pidfile a fresh time), so
// any other live process is refused with errUnidentified and left alone.
// group reports whether the process leads its own process group. A zero
// identity means nothing of the pidfile runs.
func pidfileProcess(path string, rec *engine.Service) (id proc.Identity, group bool, err error) {
	pid, err := readPidfile(path)
	if errors.Is(err, os.ErrNotExist) {
		return proc.Identity{}, false, nil
	}
	if err != nil {
		return proc.Identity{}, false, err
	}
	start, err := proc.StartTime(pid)
	if err != nil {
		return proc.Identity{}, false, nil // not running
	}
	id = proc.Identity{PID: pid, Start: start}
	if !id.Alive() {
		return proc.Identity{}, false, nil
	}
	recorded := rec != nil && (leader(rec) == id || marked(rec)(id))
	if !recorded {
		return id, false, fmt.Errorf("pidfile %s names pid %d, %w (no service rbflow recorded has that pid and start time, and the process does not carry a service's mark): rbflow stops only processes it can identify; stop it yourself, or give the step a stop: command", path, pid, errUnidentified)
	}
	pgid, err := proc.Pgid(pid)
	return id, err == nil && pgid == pid, nil
}

func readPidfile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pidfile %s: %q is not a pid", path, line)
	}
	return pid, nil
}

// writePidfile writes pid to path atomically.
func writePidfile(path string, pid int) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write pidfile: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write pidfile: %w", err)
	}
	return nil
}

// logTail returns the last lines of a service log.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const keep = 2 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > keep {
		_, _ = f.Seek(fi.Size()-keep, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return strings.Join(lines, "\n")
}

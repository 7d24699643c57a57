package main

import (
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// post is one request a receiver got.
type post struct {
	Path        string
	ContentType string
	Body        []byte
}

// text is the post's "text" field.
func (p post) text(t *testing.T) string {
	t.Helper()
	var body struct{ Text string }
	if err := json.Unmarshal(p.Body, &body); err != nil {
		t.Fatalf("post to %s is not JSON: %v\n%s", p.Path, err, p.Body)
	}
	return body.Text
}

// receiver is a loopback webhook: it answers the posts to it with the next
// of its statuses (the last one after that), or never, until the test ends.
type receiver struct {
	mu       sync.Mutex
	posts    []post
	statuses []int
	hang     chan struct{} // non-nil: never answer
}

func newReceiver(t *testing.T, statuses ...int) (*receiver, *httptest.Server) {
	t.Helper()
	r := &receiver{statuses: statuses}
	srv := httptest.NewServer(r) // 127.0.0.1 only
	t.Cleanup(func() {
		if r.hang != nil {
			close(r.hang)
		}
		srv.Close()
	})
	return r, srv
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	r.posts = append(r.posts, post{Path: req.URL.Path, ContentType: req.Header.Get("Content-Type"), Body: b})
	code := 200
	if len(r.statuses) > 0 {
		code = r.statuses[min(len(r.posts), len(r.statuses))-1]
	}
	hang := r.hang
	r.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
		return
	}
	w.WriteHeader(code)
	io.WriteString(w, "answer for "+req.URL.Path) // a webhook may echo its URL
}

func (r *receiver) received() []post {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]post(nil), r.posts...)
}

// toolsOnly returns a PATH of one folder holding only the tools named
// (links to the real ones): no python3 and no curl, as on a stripped-down
// server.
func toolsOnly(t *testing.T, tools ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, tool := range tools {
		real, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(real, filepath.Join(dir, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for _, absent := range []string{"python3", "python", "curl", "wget"} {
		if _, err := os.Stat(filepath.Join(dir, absent)); err == nil {
			t.Fatalf("the PATH holds %s", absent)
		}
	}
	return dir
}

// noPython runs rbflow in dir with PATH set to path.
func noPython(t *testing.T, path, dir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := rbflowCmd(t, dir, args...)
	cmd.Env = append(cmd.Env, "PATH="+path) // the last one counts
	return cmd
}

// runNoPython runs rbflow to its end with PATH set to path.
func runNoPython(t *testing.T, path, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := noPython(t, path, dir, args...)
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("rbflow %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// secretNowhere fails the test if secret shows in the output given or in
// any file rbflow keeps for the repository dir (state.db and its log, the
// runs' logs and reports).
func secretNowhere(t *testing.T, dir, secret string, outputs ...string) {
	t.Helper()
	for _, o := range outputs {
		if strings.Contains(o, secret) {
			t.Errorf("the webhook URL (a secret) shows in the output:\n%s", o)
		}
	}
	state := filepath.Join(dir, ".git", "rbflow")
	n := 0
	err := filepath.WalkDir(state, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		if strings.Contains(string(b), secret) {
			t.Errorf("the webhook URL (a secret) is kept in %s", path)
		}
		return nil
	})
	if err != nil || n == 0 {
		t.Fatalf("state folder %s: %d files, %v", state, n, err)
	}
}

// events decodes rbflow --json output.
func events(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var e map[string]any
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("--json line %q: %v", l, err)
		}
		evs = append(evs, e)
	}
	return evs
}

func stepFinished(t *testing.T, evs []map[string]any, step string) map[string]any {
	t.Helper()
	for _, e := range evs {
		if e["event"] == "step_finished" && e["step"] == step {
			return e
		}
	}
	t.Fatalf("no step_finished event for %s", step)
	return nil
}

// TestNotifyWithoutPython: on a host with neither python3 nor curl, the
// notify built-in posts the notification to its webhook (a secret param)
// as JSON {"text": ...}; the URL shows nowhere, not in the --json events,
// the logs, the dry run or the state store, and the checklist counts the
// post as telling the users.
func TestNotifyWithoutPython(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	path := toolsOnly(t, "git", "bash")
	hook, srv := newReceiver(t, http.StatusOK)
	url := srv.URL + "/hooks/T0/B0/s3cr3t-token"

	o, e, code := runNoPython(t, path, dir, "run", "notify", "--dry-run", "--set", "sprint=3", "--set", "webhook="+url)
	if code != 0 || !strings.Contains(o, "POST *** as json") {
		t.Fatalf("dry run: exit %d, want the post shown\n%s%s", code, o, e)
	}
	if n := len(hook.received()); n != 0 {
		t.Fatalf("the dry run posted %d times", n)
	}

	o, e, code = runNoPython(t, path, dir, "run", "notify", "--json", "--set", "sprint=3", "--set", "severity=critical",
		"--set", "summary=discounts broke checkout", "--set", "webhook="+url)
	if code != 0 {
		t.Fatalf("notify without python3: exit %d\n%s%s", code, o, e)
	}
	got := hook.received()
	if len(got) != 1 {
		t.Fatalf("webhook got %d posts, want 1", len(got))
	}
	if got[0].Path != "/hooks/T0/B0/s3cr3t-token" || got[0].ContentType != "application/json" {
		t.Errorf("post to %s as %q, want /hooks/T0/B0/s3cr3t-token as application/json", got[0].Path, got[0].ContentType)
	}
	var body map[string]any
	if err := json.Unmarshal(got[0].Body, &body); err != nil || len(body) != 1 {
		t.Fatalf("payload %s: want {\"text\": ...} only (%v)", got[0].Body, err)
	}
	id := lastRunID(t, dir)
	saved, err := os.ReadFile(filepath.Join(dir, ".git", "rbflow", "runs", id, "notification.md"))
	if err != nil || body["text"] != string(saved) {
		t.Errorf("posted text differs from the run folder's notification.md (%v):\n%v", err, body["text"])
	}
	for _, want := range []string{"**Severity**: critical", "discounts broke checkout"} {
		if !strings.Contains(body["text"].(string), want) {
			t.Errorf("posted text lacks %q", want)
		}
	}
	fin := stepFinished(t, events(t, o), "post")
	if outs, _ := fin["outputs"].(map[string]any); fin["status"] != "succeeded" || outs["webhook_status"] != 200.0 || outs["status"] != 200.0 {
		t.Errorf("post step_finished = %v, want succeeded with status and webhook_status 200", fin)
	}
	if o, _, _ := query(t, dir, "checklist", id); !strings.Contains(o, "the webhook answered 200") {
		t.Errorf("checklist does not count the post:\n%s", o)
	}
	secretNowhere(t, dir, "s3cr3t-token", o, e)
}

// TestNotifyStepRetryAndTimeout: a notify step in Slack's format, retried
// by its retry: after a 500 until the webhook answers 200; a 404 is not
// retried; a webhook that never answers fails the step after with.timeout.
// Each error names the webhook as *** and never its URL.
func TestNotifyStepRetryAndTimeout(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	path := toolsOnly(t, "git", "bash")
	flaky, flakySrv := newReceiver(t, 500, 200)
	gone, goneSrv := newReceiver(t, 404)
	silent, silentSrv := newReceiver(t)
	silent.hang = make(chan struct{})
	proc := filepath.Join(t.TempDir(), "tell.yaml") // outside the work tree: no approval
	testkit.WriteFile(t, proc, `version: 1
name: tell
params:
  flaky: {type: string, secret: true}
  gone: {type: string, secret: true}
  silent: {type: string, secret: true}
steps:
  - id: report
    report: "-"
    with: {template: "# Rolled back\n\n**Sprint** 3 is back on baseline."}
  - id: flaky
    retry: {attempts: 3, delay: 0s}
    notify: ${{ params.flaky }}
    with:
      format: slack
      title: Rollback of sprint 3
      text_file: ${{ steps.report.outputs.run_path }}
  - id: gone
    continue_on_error: true
    retry: {attempts: 3, delay: 0s}
    notify: ${{ params.gone }}
    with: {text: hello}
  - id: silent
    continue_on_error: true
    notify: ${{ params.silent }}
    with: {text: hello, timeout: 300ms}
`)
	o, e, code := runNoPython(t, path, dir, "run", proc, "--json",
		"--set", "flaky="+flakySrv.URL+"/s3cr3t-a", "--set", "gone="+goneSrv.URL+"/s3cr3t-b", "--set", "silent="+silentSrv.URL+"/s3cr3t-c")
	if code != 0 {
		t.Fatalf("run: exit %d, want 0 (gone and silent continue on error)\n%s%s", code, o, e)
	}
	evs := events(t, o)

	posts := flaky.received()
	if len(posts) != 2 {
		t.Fatalf("the flaky webhook got %d posts, want 2 (500, then 200)", len(posts))
	}
	var slack struct {
		Text   string
		Blocks []struct {
			Type string
			Text struct{ Type, Text string }
		}
	}
	if err := json.Unmarshal(posts[1].Body, &slack); err != nil {
		t.Fatal(err)
	}
	if len(slack.Blocks) != 2 || slack.Blocks[0].Text.Text != "Rollback of sprint 3" ||
		slack.Blocks[1].Text.Text != "*Rolled back*\n\n*Sprint* 3 is back on baseline." || !strings.Contains(slack.Text, "Rollback of sprint 3") {
		t.Errorf("slack payload = %s, want the title as header and the report as mrkdwn", posts[1].Body)
	}
	if fin := stepFinished(t, evs, "flaky"); fin["status"] != "succeeded" || fin["attempt"] != 2.0 {
		t.Errorf("flaky step_finished = %v, want succeeded at attempt 2", fin)
	}

	if n := len(gone.received()); n != 1 {
		t.Errorf("the 404 webhook got %d posts, want 1: a 404 is not retried", n)
	}
	fin := stepFinished(t, evs, "gone")
	if msg, _ := fin["error"].(string); fin["status"] != "failed" || !strings.Contains(msg, "the webhook answered 404 Not Found: answer for ***") {
		t.Errorf("gone step_finished = %v, want failed with the 404 and its body, URL masked", fin)
	}
	fin = stepFinished(t, evs, "silent")
	if msg, _ := fin["error"].(string); fin["status"] != "failed" || !strings.Contains(msg, "the webhook did not answer within 300ms") {
		t.Errorf("silent step_finished = %v, want failed after its timeout", fin)
	}
	if n := len(silent.received()); n != 1 {
		t.Errorf("the silent webhook got %d posts, want 1", n)
	}
	for _, s := range []string{"s3cr3t", strings.TrimPrefix(flakySrv.URL, "http://"), strings.TrimPrefix(goneSrv.URL, "http://")} {
		secretNowhere(t, dir, s, o, e)
	}
}

// TestNotificationHooks: a procedure's hooks tell a webhook when the run
// starts, passes its target, fails and finishes, each once, also across a
// SIGKILL and rbflow resume; a hook whose webhook fails is a warning of the
// run, never its failure.
func TestNotificationHooks(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	path := toolsOnly(t, "git", "bash", "sleep")
	chat, chatSrv := newReceiver(t, http.StatusOK)
	broken, brokenSrv := newReceiver(t, http.StatusBadGateway)
	gate := filepath.Join(t.TempDir(), "go")
	proc := filepath.Join(t.TempDir(), "hooked.yaml")
	testkit.WriteFile(t, proc, `version: 1
name: hooked
target: 1s
params:
  chat: {type: string, secret: true}
  broken: {type: string, secret: true}
  gate: {type: string}
notifications:
  - url: ${{ params.chat }}
    format: slack
    on: [start, failure, over_target, finish]
  - url: ${{ params.broken }}
    on: finish
    timeout: 5s
steps:
  - id: wait_gate
    run: while [ ! -e "${{ params.gate }}" ]; do sleep 0.05; done
  - id: check
    run: test -e "${{ params.gate }}.ok" || { echo "gate not ok" >&2; exit 3; }
`)
	chatURL, brokenURL := chatSrv.URL+"/s3cr3t-chat", brokenSrv.URL+"/s3cr3t-broken"
	sets := []string{"--set", "chat=" + chatURL, "--set", "broken=" + brokenURL}
	headlines := func() []string {
		var hs []string
		for _, p := range chat.received() {
			var slack struct {
				Blocks []struct{ Text struct{ Text string } }
			}
			if err := json.Unmarshal(p.Body, &slack); err != nil || len(slack.Blocks) == 0 {
				t.Fatalf("hook payload %s: not Slack's (%v)", p.Body, err)
			}
			hs = append(hs, slack.Blocks[0].Text.Text)
		}
		return hs
	}

	o, e, code := runNoPython(t, path, dir, append([]string{"run", proc, "--dry-run", "--set", "gate=" + gate}, sets...)...)
	if code != 0 || !strings.Contains(o, " 1. on start, failure, over_target, finish — POST *** as slack") || len(chat.received())+len(broken.received()) != 0 {
		t.Fatalf("dry run: exit %d, want the hooks listed and nothing sent (%d sent)\n%s%s", code, len(chat.received())+len(broken.received()), o, e)
	}
	if strings.Contains(o+e, "s3cr3t") {
		t.Errorf("the dry run shows a webhook URL:\n%s%s", o, e)
	}

	// Started, passes its 1s target while it waits, killed.
	cmd := noPython(t, path, dir, append([]string{"run", proc, "--json", "--set", "gate=" + gate}, sets...)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "start and over_target to be sent and recorded", func() bool {
		return strings.Contains(out.String(), "notification 1 (over_target) delivered")
	})
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if got, want := strings.Join(headlines(), " | "), "rbflow: hooked started | rbflow: hooked is over its 1s target"; got != want {
		t.Fatalf("before the kill the chat got %q, want %q", got, want)
	}

	// Resumed: the gate is open but not ok, so check fails: failure and
	// finish are told, start and over_target not again.
	testkit.WriteFile(t, gate, "")
	o, e, code = runNoPython(t, path, dir, append([]string{"resume", "--yes", "--json"}, sets...)...)
	if code != 1 {
		t.Fatalf("resume: exit %d, want 1 (check fails)\n%s%s", code, o, e)
	}
	hs := headlines()
	if got, want := strings.Join(hs, " | "), "rbflow: hooked started | rbflow: hooked is over its 1s target | rbflow: hooked failed at step check | rbflow: hooked failed at step check"; got != want {
		t.Fatalf("after the resume the chat got %q, want %q", got, want)
	}
	id := lastRunID(t, dir)
	failure := chat.received()[2].text(t)
	for _, want := range []string{"**Procedure**: hooked", "**Run**: " + id, "**Status**: failed", "**Repository**: " + dir,
		"**Duration**: ", "(target 1s: over by ", "**Failed step**: check: exit status 3"} {
		if !strings.Contains(failure, want) {
			t.Errorf("the failure's text lacks %q:\n%s", want, failure)
		}
	}
	if n := len(broken.received()); n != 3 {
		t.Errorf("the broken webhook got %d posts, want 3 (the finish, tried three times on 502)", n)
	}

	// Resumed once the gate is ok: the run succeeds, with a warning for
	// the broken hook, and its end is told anew.
	testkit.WriteFile(t, gate+".ok", "")
	o, e, code = runNoPython(t, path, dir, append([]string{"resume", "--yes", "--json"}, sets...)...)
	if code != 0 {
		t.Fatalf("second resume: exit %d, want 0: a hook that fails is a warning\n%s%s", code, o, e)
	}
	hs = headlines()
	if len(hs) != 5 || hs[4] != "rbflow: hooked succeeded" {
		t.Fatalf("after the second resume the chat got %q, want the success told last", hs)
	}
	if !strings.Contains(chat.received()[4].text(t), "**Status**: succeeded") {
		t.Errorf("the finish's text lacks its status:\n%s", chat.received()[4].text(t))
	}
	var fin map[string]any
	for _, ev := range events(t, o) {
		if ev["event"] == "run_finished" {
			fin = ev
		}
	}
	ws, _ := fin["warnings"].([]any)
	if fin["status"] != "succeeded" || len(ws) != 1 || !strings.Contains(ws[0].(string), "notification 2 (finish) was not delivered: the webhook answered 502 Bad Gateway: answer for ***") {
		t.Errorf("run_finished = %v, want succeeded with the broken hook as its one warning", fin)
	}
	if o, _, _ := query(t, dir, "status", id); !strings.Contains(o, "succeeded with 1 warning") || !strings.Contains(o, "notification 2 (finish) was not delivered") {
		t.Errorf("status does not show the hook's warning:\n%s", o)
	}
	secretNowhere(t, dir, "s3cr3t", out.String(), o, e)
}

package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rbflow/rbflow/engine/testkit"
)

// webhook is a local HTTP server that records the notifications posted to it.
type webhook struct {
	mu    sync.Mutex
	texts []string
	delay time.Duration
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var body struct{ Text string }
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &body)
	w.mu.Lock()
	w.texts = append(w.texts, body.Text)
	d := w.delay
	w.mu.Unlock()
	time.Sleep(d)
	rw.WriteHeader(http.StatusNoContent)
}

func (w *webhook) received() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.texts...)
}

// TestNotifyProcedure renders the seed's notification with the procedure's
// contacts, writes it to the run folder, posts it to a webhook (whose URL,
// a secret, never shows) and survives a SIGKILL during the post.
func TestNotifyProcedure(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	hook := &webhook{}
	srv := httptest.NewServer(hook)
	defer srv.Close()
	url := srv.URL + "/hooks/s3cr3t-token"

	args := []string{"run", "notify", "--set", "sprint=3", "--set", "severity=critical",
		"--set", "impact=User-facing", "--set", "summary=discounts broke checkout", "--set", "webhook=" + url}
	o, e, code := rbflow(t, dir, args...)
	if code != 0 {
		t.Fatalf("notify: exit %d\n%s%s", code, o, e)
	}
	got := hook.received()
	if len(got) != 1 {
		t.Fatalf("webhook got %d posts, want 1", len(got))
	}
	for _, want := range []string{"Rollback Notification", "**Sprint**: 3", "**Severity**: critical", "**Impact**: User-facing",
		"discounts broke checkout", "- Safe: `baseline`", "- Failed: `refactor/sprint-3`", "**Technical Lead**", "**DevOps**"} {
		if !strings.Contains(got[0], want) {
			t.Errorf("notification lacks %q:\n%s", want, got[0])
		}
	}
	id := lastRunID(t, dir)
	saved, err := os.ReadFile(filepath.Join(dir, ".git", "rbflow", "runs", id, "notification.md"))
	if err != nil || string(saved) != got[0] {
		t.Errorf("the run folder's notification.md (%v) differs from what was posted", err)
	}
	if strings.Contains(o+e, "s3cr3t-token") {
		t.Errorf("the webhook URL (a secret) shows in the output:\n%s%s", o, e)
	}

	// Killed while the webhook answers slowly; resume posts it.
	hook.delay = 2 * time.Second
	cmd := rbflowCmd(t, dir, args...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 20*time.Second, "the post to reach the webhook", func() bool { return len(hook.received()) == 2 })
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	hook.mu.Lock()
	hook.delay = 0
	hook.mu.Unlock()
	// rbflow did not keep the webhook URL (a secret): resume asks for it
	// and changes nothing until it is given again.
	if o, e, code := rbflow(t, dir, "resume", "--yes"); code != 2 || !strings.Contains(e, "give it again with --set webhook=VALUE") {
		t.Fatalf("resume without the secret: exit %d, want 2 asking for webhook\n%s%s", code, o, e)
	}
	if o, e, code := rbflow(t, dir, "resume", "--yes", "--set", "webhook="+url); code != 0 {
		t.Fatalf("resume: exit %d\n%s%s", code, o, e)
	}
	if n := len(hook.received()); n != 3 {
		t.Errorf("webhook got %d posts, want 3 (the interrupted post is sent again)", n)
	}
	if o, _, _ := rbflow(t, dir, "status", "--json"); !strings.Contains(o, `"status": "succeeded"`) {
		t.Errorf("status after resume:\n%s", o)
	}
}

// TestNotifyAfterRollback (issue 14): after a sprint rollback, notify with
// no params takes the sprint, branches, times and actions from the
// rollback run (it said "Actions Taken: None yet." and "[NUMBER]"); once
// the rollback is undone, it no longer counts.
func TestNotifyAfterRollback(t *testing.T) {
	t.Parallel()
	dir := seedRepo(t)
	if o, e, code := rbflow(t, dir, "run", "sprint", "--set", "sprint=3", "--set", "reason=discounts broke checkout", "--set", "test_command=true"); code != 0 {
		t.Fatalf("sprint: exit %d\n%s%s", code, o, e)
	}
	sprintRun := lastRunID(t, dir)
	o, e, code := rbflow(t, dir, "run", "notify")
	if code != 0 {
		t.Fatalf("notify: exit %d\n%s%s", code, o, e)
	}
	note := readFile(t, filepath.Join(dir, ".git", "rbflow", "runs", lastRunID(t, dir), "notification.md"))
	for _, want := range []string{
		"**Sprint**: 3\n",
		"(run `" + sprintRun + "` of sprint, succeeded)",
		"### What Happened\ndiscounts broke checkout",
		"1. The failed branch is the one checked out, and it is not the baseline (`inspect`)",
		"Create the retry branch from the baseline (`retry_branch`)",
		"Branches made: `backup/sprint-3-",
		"`refactor/sprint-3-retry`",
		"- Safe: `baseline`",
		"- Failed: `refactor/sprint-3`",
		"- Recovery: `refactor/sprint-3-retry`",
	} {
		if !strings.Contains(note, want) {
			t.Errorf("notification lacks %q:\n%s", want, note)
		}
	}
	for _, placeholder := range []string{"[NUMBER]", "None yet.", "[BRANCH]", "[none yet]"} {
		if strings.Contains(note, placeholder) {
			t.Errorf("notification holds %q although the store knows the rollback:\n%s", placeholder, note)
		}
	}

	if o, e, code := rbflow(t, dir, "undo", sprintRun, "--yes"); code != 0 {
		t.Fatalf("undo: exit %d\n%s%s", code, o, e)
	}
	if o, e, code := rbflow(t, dir, "run", "notify"); code != 0 {
		t.Fatalf("notify after undo: exit %d\n%s%s", code, o, e)
	}
	note = readFile(t, filepath.Join(dir, ".git", "rbflow", "runs", lastRunID(t, dir), "notification.md"))
	if strings.Contains(note, sprintRun) || !strings.Contains(note, "**Sprint**: [NUMBER]") {
		t.Errorf("after the rollback was undone, notify still reports it:\n%s", note)
	}
}

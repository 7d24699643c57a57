package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rbflow/rbflow/engine"
)

// headlines is a webhook that keeps the headline of each Slack post.
type headlines struct {
	mu   sync.Mutex
	got  []string
	code int
}

func (h *headlines) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Blocks []struct{ Text struct{ Text string } }
	}
	b, _ := io.ReadAll(r.Body)
	_ = json.Unmarshal(b, &p)
	h.mu.Lock()
	if len(p.Blocks) > 0 {
		h.got = append(h.got, p.Blocks[0].Text.Text)
	}
	h.mu.Unlock()
	w.WriteHeader(h.code)
}

func (h *headlines) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.got, " | ")
}

// TestNotificationHookEvents: a run's hooks are told its events in the
// order it meets them, over_target while a step still runs; a hook whose
// webhook fails is a warning of the run, not its failure.
func TestNotificationHookEvents(t *testing.T) {
	ok := &headlines{code: 200}
	okSrv := httptest.NewServer(ok)
	defer okSrv.Close()
	bad := &headlines{code: 400}
	badSrv := httptest.NewServer(bad)
	defer badSrv.Close()
	const head = `version: 1
name: told
target: 50ms
params:
  ok: {type: string, secret: true}
  bad: {type: string, secret: true}
  off: {type: string, secret: true, default: ""}
notifications:
  - url: ${{ params.off }}
    on: [start, finish]
  - url: ${{ params.ok }}
    format: slack
    on: [start, failure, over_target, finish]
  - url: ${{ params.bad }}
    format: slack
    on: [finish]
`
	params := map[string]any{"ok": okSrv.URL + "/ok", "bad": badSrv.URL + "/bad"}
	res := runProc(t, head+"steps:\n  - {id: slow, run: \"sleep:400ms\"}\n", 4, params)
	if res.err != nil {
		t.Fatalf("run: %v, want success: a failing hook is a warning", res.err)
	}
	sent, err := res.store.Notifications(context.Background(), res.run.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w := engine.NotificationWarnings(sent, 1); len(w) != 1 || !strings.HasPrefix(w[0], "notification 3 (finish) was not delivered: the webhook answered 400 Bad Request") {
		t.Errorf("warnings = %q, want only the failing hook's (a hook whose url is empty is off)", w)
	}
	if got, want := ok.String(), "rbflow: told started | rbflow: told is over its 50ms target | rbflow: told succeeded"; got != want {
		t.Errorf("hooks told %q, want %q", got, want)
	}
	if got := bad.String(); got != "rbflow: told succeeded" {
		t.Errorf("the failing hook got %q, want one post (a 400 is not retried)", got)
	}

	ok.got = nil
	res = runProc(t, strings.Replace(head, "target: 50ms", "target: 1h", 1)+"steps:\n  - {id: broken, run: fail}\non_failure:\n  - {id: after, run: ok}\n", 4, params)
	if res.err == nil {
		t.Fatal("run succeeded, want it failed")
	}
	if got, want := ok.String(), "rbflow: told started | rbflow: told failed at step broken | rbflow: told failed at step broken"; got != want {
		t.Errorf("hooks told %q, want %q (start, failure, finish)", got, want)
	}
}

package steps

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/rbflow/rbflow/engine/testkit"
)

func TestWaitHTTP(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/down":
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
		case r.URL.Path == "/moved":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		case hits.Add(1) < 3:
			http.Error(w, "warming up", http.StatusServiceUnavailable)
		default:
			fmt.Fprintln(w, `{"status": "ok"}`)
		}
	}))
	defer srv.Close()
	h := newHarness(t)
	_, recs, err := h.run("w", fmt.Sprintf(`version: 1
name: w
steps:
  - id: up
    wait: http
    with: {url: %q, body: '"status": "ok"', interval: 20ms, timeout: 10s}
  - id: moved
    wait: http
    with: {url: %q, expect_status: "300-399", timeout: 5s}
`, srv.URL+"/health", srv.URL+"/moved"))
	mustSucceed(t, recs, err)
	if got := intOutput(t, recs["up"], "attempts"); got != 3 {
		t.Errorf("attempts = %d, want 3 (two 503s, then 200)", got)
	}
	if recs["up"].Outputs["status"] != 200 {
		t.Errorf("status = %#v, want 200", recs["up"].Outputs["status"])
	}
	if recs["moved"].Outputs["status"] != 302 {
		t.Errorf("redirect status = %#v, want 302 (not followed)", recs["moved"].Outputs["status"])
	}

	_, recs, err = h.run("w", fmt.Sprintf(`version: 1
name: w
steps:
  - id: down
    wait: http
    with: {url: %q, interval: 50ms, timeout: 300ms}
`, srv.URL+"/down"))
	if err == nil {
		t.Fatal("waiting on a 503 succeeded")
	}
	e := recs["down"].Error
	for _, want := range []string{"not ready after 300ms", "last probe: GET " + srv.URL + "/down: 503 Service Unavailable (want 200-399)"} {
		if !strings.Contains(e, want) {
			t.Errorf("error %q does not contain %q", e, want)
		}
	}
	if recs["down"].Outputs["status"] != 503 || intOutput(t, recs["down"], "attempts") < 2 {
		t.Errorf("outputs = %v, want status 503 and several attempts", recs["down"].Outputs)
	}
}

func TestWaitTCPAndCommand(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	h := newHarness(t)
	counter := filepath.Join(h.repo, "counter")
	closed := testkit.FreeAddr(t)
	_, recs, err := h.run("w", fmt.Sprintf(`version: 1
name: w
steps:
  - id: port
    wait: tcp
    with: {address: %q, timeout: 5s}
  - id: cmd
    wait: command
    with:
      command: 'n=$(cat %s 2>/dev/null || echo 0); echo $((n+1)) > %s; echo "try $n"; [ $n -ge 2 ]'
      interval: 10ms
      timeout: 10s
  - id: closed
    wait: tcp
    with: {address: %q, interval: 50ms, timeout: 200ms}
    continue_on_error: true
`, l.Addr().String(), counter, counter, closed))
	mustSucceed(t, recs, err)
	if recs["port"].Outputs["status"] != "open" {
		t.Errorf("tcp status = %#v", recs["port"].Outputs["status"])
	}
	if got := intOutput(t, recs["cmd"], "attempts"); got != 3 {
		t.Errorf("command attempts = %d, want 3", got)
	}
	if recs["cmd"].Outputs["status"] != 0 {
		t.Errorf("command status = %#v, want exit code 0", recs["cmd"].Outputs["status"])
	}
	if e := recs["closed"].Error; !strings.Contains(e, "connection refused") || !strings.Contains(e, "not ready after 200ms") {
		t.Errorf("closed port error = %q", e)
	}
}

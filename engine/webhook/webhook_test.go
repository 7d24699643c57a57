package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// receiver is a loopback webhook that answers each post with the next of
// its statuses (the last one after that) and keeps the bodies.
type receiver struct {
	statuses []int
	answer   string
	bodies   [][]byte
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	r.bodies = append(r.bodies, b)
	code := r.statuses[min(len(r.bodies), len(r.statuses))-1]
	if req.Header.Get("Content-Type") != "application/json" {
		code = http.StatusUnsupportedMediaType
	}
	w.WriteHeader(code)
	io.WriteString(w, r.answer)
}

func TestPayloads(t *testing.T) {
	m := Message{Title: "Rollback done", Text: "# Report\n\n- **Sprint**: 3\n- plain"}
	b, err := Payload(JSON, m)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	if err := json.Unmarshal(b, &generic); err != nil {
		t.Fatal(err)
	}
	if want := "Rollback done\n\n" + m.Text; generic["text"] != want || len(generic) != 1 {
		t.Errorf("Payload(json) = %s, want only text %q", b, want)
	}

	b, err = Payload(Slack, m)
	if err != nil {
		t.Fatal(err)
	}
	var slack struct {
		Text   string
		Blocks []struct {
			Type string
			Text struct{ Type, Text string }
		}
	}
	if err := json.Unmarshal(b, &slack); err != nil {
		t.Fatal(err)
	}
	if len(slack.Blocks) != 2 || slack.Blocks[0].Type != "header" || slack.Blocks[0].Text.Text != "Rollback done" ||
		slack.Blocks[1].Type != "section" || slack.Blocks[1].Text.Type != "mrkdwn" {
		t.Fatalf("Payload(slack) blocks = %s, want a header and a mrkdwn section", b)
	}
	if got, want := slack.Blocks[1].Text.Text, "*Report*\n\n- *Sprint*: 3\n- plain"; got != want {
		t.Errorf("slack section = %q, want %q (Markdown made mrkdwn)", got, want)
	}
	if !strings.Contains(slack.Text, "**Sprint**: 3") {
		t.Errorf("slack text = %q, want the whole message as the fallback", slack.Text)
	}

	// A long message is cut into sections within Slack's limits.
	long := strings.Repeat(strings.Repeat("é", 100)+"\n", 400)
	b, _ = Payload(Slack, Message{Text: long})
	if err := json.Unmarshal(b, &slack); err != nil {
		t.Fatal(err)
	}
	if len(slack.Blocks) < 2 || len(slack.Blocks) > slackBlocksMax {
		t.Errorf("a %d-byte message gives %d blocks, want 2 to %d", len(long), len(slack.Blocks), slackBlocksMax)
	}
	for _, bl := range slack.Blocks {
		if len(bl.Text.Text) > slackSectionMax {
			t.Errorf("a section holds %d bytes, over Slack's %d", len(bl.Text.Text), slackSectionMax)
		}
	}
	if _, err := Payload("teams", m); err == nil {
		t.Error("Payload(teams) = nil error, want unknown format")
	}
}

func TestCheckURL(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"https://hooks.example.com/T0/B0/s3cr3t", ""},
		{"HTTP://127.0.0.1:9/x", ""},
		{"", "empty"},
		{"ftp://example.com/s3cr3t", `(it has "ftp")`},
		{"hooks.example.com/s3cr3t", "(it has no scheme)"},
		{"file:///etc/s3cr3t", `(it has "file")`},
		{"http:///s3cr3t", "has no host"},
	} {
		_, err := CheckURL(c.url)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckURL(%q) = %v, want ok", c.url, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("CheckURL(%q) = %v, want an error with %q", c.url, err, c.want)
		case err != nil && strings.Contains(err.Error(), "s3cr3t"):
			t.Errorf("CheckURL(%q) = %v: the error shows the URL", c.url, err)
		}
	}
}

// TestPostNeverShowsTheURL: what a post returns, delivered or not, never
// holds the URL or its host, though net/http's errors and a webhook's
// answer may.
func TestPostNeverShowsTheURL(t *testing.T) {
	ctx := context.Background()
	r := &receiver{statuses: []int{http.StatusNotFound}, answer: "no hook at /hooks/s3cr3t on this server"}
	srv := httptest.NewServer(r)
	defer srv.Close()
	url := srv.URL + "/hooks/s3cr3t"
	status, err := Post(ctx, url, JSON, Message{Text: "hi"}, 0)
	var we *Error
	if status != 404 || !errors.As(err, &we) || we.Retryable() {
		t.Fatalf("Post to a 404 = %d, %v; want 404 and an error not worth retrying", status, err)
	}
	if msg := err.Error(); !strings.Contains(msg, "answered 404 Not Found: no hook at *** on this server") {
		t.Errorf("error = %q, want the status and the body with the URL masked", msg)
	}

	// Nothing listens: the dial error names the address.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = Post(ctx, "http://"+addr+"/hooks/s3cr3t", JSON, Message{Text: "hi"}, 0)
	if !errors.As(err, &we) || !we.Retryable() {
		t.Fatalf("Post to a closed port = %v, want a retryable *Error", err)
	}
	if msg := err.Error(); strings.Contains(msg, "s3cr3t") || strings.Contains(msg, addr) || strings.Contains(msg, "127.0.0.1") {
		t.Errorf("error = %q: it shows the URL or its host", msg)
	}

	// A redirect is an answer, not followed: the message goes to no other host.
	redirect := httptest.NewServer(http.RedirectHandler(url, http.StatusTemporaryRedirect))
	defer redirect.Close()
	if status, err := Post(ctx, redirect.URL+"/a", JSON, Message{Text: "hi"}, 0); status != 307 || err == nil {
		t.Errorf("Post to a redirect = %d, %v; want 307 and an error", status, err)
	}
	if len(r.bodies) != 1 {
		t.Errorf("the redirect was followed: the receiver got %d posts, want 1", len(r.bodies))
	}
}

// TestDeliverRetries: 5xx and 429 are tried again, up to the attempts;
// 4xx is not.
func TestDeliverRetries(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		statuses     []int
		attempts     int
		wantStatus   int
		wantAttempts int
		ok           bool
	}{
		{[]int{500, 429, 200}, 3, 200, 3, true},
		{[]int{503}, 2, 503, 2, false},
		{[]int{400, 200}, 3, 400, 1, false},
	} {
		r := &receiver{statuses: c.statuses}
		srv := httptest.NewServer(r)
		status, made, err := Deliver(ctx, srv.URL, Slack, Message{Text: "hi"}, 0, c.attempts, 0)
		srv.Close()
		if status != c.wantStatus || made != c.wantAttempts || (err == nil) != c.ok || len(r.bodies) != made {
			t.Errorf("Deliver to %v (%d attempts) = %d after %d (%d received), %v; want %d after %d", c.statuses, c.attempts, status, made, len(r.bodies), err, c.wantStatus, c.wantAttempts)
		}
	}
}

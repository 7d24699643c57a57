// Package webhook posts a notification to a chat or incident webhook: a
// generic JSON {"text": ...} payload, or a Slack-compatible one with
// blocks. It is the one HTTP client of notifications: the notify step kind
// and a procedure's notification hooks both post through it.
//
// A webhook URL is a secret (a Slack or Teams URL is its own credential),
// so nothing this package returns holds it: errors say "the webhook" and
// the network errors of net/http, which name the URL and its host, have
// them replaced with ***.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Payload formats.
const (
	JSON  = "json"  // {"text": ...}: Mattermost, Rocket.Chat, Google Chat, most generic receivers
	Slack = "slack" // {"text": ..., "blocks": [...]}: Slack incoming webhooks and compatible ones
)

// Formats are the payload formats, the first the default.
var Formats = []string{JSON, Slack}

// DefaultTimeout is how long a post waits for an answer when none is given.
const DefaultTimeout = 30 * time.Second

// Masked stands where a URL or a part of it would be shown.
const Masked = "***"

// Message is what is posted.
type Message struct {
	Title string // optional; a header above the text
	Text  string // Markdown as rbflow's reports write it
}

// CheckURL parses a webhook URL: http or https with a host. The error does
// not hold the URL.
func CheckURL(raw string) (*url.URL, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, errors.New("the webhook URL is empty")
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("the webhook URL is not a URL")
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		scheme := "no scheme"
		if u.Scheme != "" && len(u.Scheme) <= 10 {
			scheme = fmt.Sprintf("%q", u.Scheme)
		}
		return nil, fmt.Errorf("the webhook URL must start with http:// or https:// (it has %s)", scheme)
	case u.Host == "":
		return nil, errors.New("the webhook URL has no host")
	}
	return u, nil
}

// Payload returns the JSON body of m in format.
func Payload(format string, m Message) ([]byte, error) {
	switch format {
	case "", JSON:
		text := m.Text
		if m.Title != "" {
			text = m.Title + "\n\n" + text
		}
		return json.Marshal(map[string]string{"text": text})
	case Slack:
		return json.Marshal(slackPayload(m))
	}
	return nil, fmt.Errorf("unknown webhook format %q: use %s", format, strings.Join(Formats, " or "))
}

// Slack's limits: a header's text, a section's text, the blocks of one
// message and its top-level text.
const (
	slackHeaderMax  = 150
	slackSectionMax = 3000
	slackBlocksMax  = 50
	slackTextMax    = 39000
)

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type slackBlock struct {
	Type string    `json:"type"`
	Text slackText `json:"text"`
}

// slackPayload is m as Slack shows it: the title as a header block, the
// text in mrkdwn sections (cut where Slack's limits require), and the
// whole as the top-level text that notifications and clients without
// blocks show.
func slackPayload(m Message) any {
	var blocks []slackBlock
	if m.Title != "" {
		blocks = append(blocks, slackBlock{Type: "header", Text: slackText{Type: "plain_text", Text: Cut(oneLine(m.Title), slackHeaderMax)}})
	}
	chunks := split(mrkdwn(m.Text), slackSectionMax)
	room := slackBlocksMax - len(blocks)
	if len(chunks) > room {
		chunks = chunks[:room]
		chunks[room-1] = Cut(chunks[room-1], slackSectionMax-40) + "\n_(cut: the message is too long for Slack)_"
	}
	for _, c := range chunks {
		blocks = append(blocks, slackBlock{Type: "section", Text: slackText{Type: "mrkdwn", Text: c}})
	}
	fallback := m.Text
	if m.Title != "" {
		fallback = m.Title + "\n\n" + fallback
	}
	return struct {
		Text   string       `json:"text"`
		Blocks []slackBlock `json:"blocks,omitempty"`
	}{Cut(fallback, slackTextMax), blocks}
}

// mrkdwn turns the Markdown rbflow's reports write into Slack's mrkdwn:
// headings and **bold** become *bold*.
func mrkdwn(md string) string {
	lines := strings.Split(md, "\n")
	for i, l := range lines {
		if t := strings.TrimLeft(l, "#"); t != l && strings.HasPrefix(t, " ") && strings.TrimSpace(t) != "" {
			l = "*" + strings.TrimSpace(strings.ReplaceAll(t, "**", "")) + "*"
		}
		lines[i] = strings.ReplaceAll(l, "**", "*")
	}
	return strings.Join(lines, "\n")
}

// split cuts s into pieces of at most max bytes, at line ends where it can.
func split(s string, max int) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var out []string
	for len(s) > max {
		at := strings.LastIndex(s[:max], "\n")
		if at <= 0 {
			at = max
			for at > 0 && !utf8.RuneStart(s[at]) {
				at--
			}
		}
		out = append(out, strings.TrimRight(s[:at], "\n"))
		s = strings.TrimLeft(s[at:], "\n")
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}

// Cut shortens s to at most max bytes, on a rune boundary, marking the cut.
func Cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	at := max - len("…")
	for at > 0 && !utf8.RuneStart(s[at]) {
		at--
	}
	return s[:at] + "…"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Error is a post that did not succeed: the webhook answered with a status
// that is not 2xx, or did not answer.
type Error struct {
	Status  int           // the HTTP status; 0 when there was no answer
	Body    string        // the start of the answer's body, on one line, URL masked
	Timeout time.Duration // set when no answer came within it
	Err     error         // why there was no answer, URL and host masked
}

func (e *Error) Error() string {
	switch {
	case e.Status != 0:
		msg := fmt.Sprintf("the webhook answered %d %s", e.Status, http.StatusText(e.Status))
		if e.Body != "" {
			msg += ": " + e.Body
		}
		return msg
	case e.Timeout > 0:
		return fmt.Sprintf("the webhook did not answer within %s", e.Timeout)
	}
	return fmt.Sprintf("post to the webhook: %v", e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether the same post may succeed later: there was no
// answer, or the webhook answered 429 (too many requests) or 5xx. A 4xx
// (a wrong URL, a revoked token, a payload refused) will not change.
func (e *Error) Retryable() bool {
	return e.Status == 0 || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// client does not follow redirects: a webhook that redirects is answered
// as it answered (a 3xx is not a delivery), and the body is never sent on
// to another host.
var client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Post sends m to rawURL in format once, waiting at most timeout
// (DefaultTimeout when 0) for the answer. It returns the HTTP status, and
// an *Error when it is not 2xx or no answer came; an error from ctx (the
// step's timeout, a signal) is returned as ctx's cause. No error holds the
// URL.
func Post(ctx context.Context, rawURL, format string, m Message, timeout time.Duration) (int, error) {
	u, err := CheckURL(rawURL)
	if err != nil {
		return 0, err
	}
	body, err := Payload(format, m)
	if err != nil {
		return 0, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, &Error{Err: errors.New(hide(err.Error(), rawURL, u))}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rbflow")
	resp, err := client.Do(req)
	if err != nil {
		switch {
		case ctx.Err() != nil:
			return 0, context.Cause(ctx)
		case rctx.Err() != nil:
			return 0, &Error{Timeout: timeout, Err: rctx.Err()}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // "Post "URL": " is the URL
		}
		return 0, &Error{Err: errors.New(hide(err.Error(), rawURL, u))}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, &Error{Status: resp.StatusCode, Body: Cut(hide(oneLine(string(head)), rawURL, u), 200)}
	}
	return resp.StatusCode, nil
}

// hide replaces in s every form of the URL net/http may show (as given,
// as parsed, with its password redacted, escaped) and its host with ***.
func hide(s, raw string, u *url.URL) string {
	forms := []string{strings.TrimSpace(raw), u.String(), u.Redacted(), url.QueryEscape(u.String()), u.Host, u.Hostname(), u.EscapedPath(), u.RawQuery}
	if u.User != nil {
		forms = append(forms, u.User.String())
	}
	// Longest first, so that a form holding another is replaced whole.
	slices.SortFunc(forms, func(a, b string) int { return len(b) - len(a) })
	for _, f := range forms {
		if len(f) > 1 { // a path of "/" tells nothing
			s = strings.ReplaceAll(s, f, Masked)
		}
	}
	return s
}

// Deliver posts m like Post, up to attempts times while the failure is
// Retryable, waiting delay before the second attempt and twice as long
// before each next one. It returns the last status, the attempts made and
// the last error.
func Deliver(ctx context.Context, rawURL, format string, m Message, timeout time.Duration, attempts int, delay time.Duration) (status, made int, err error) {
	for made = 1; ; made++ {
		status, err = Post(ctx, rawURL, format, m, timeout)
		var we *Error
		if err == nil || made >= attempts || !errors.As(err, &we) || !we.Retryable() {
			return status, made, err
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return status, made, err
		}
		delay *= 2
	}
}

package spec

import (
	"slices"
	"strings"
	"time"

	"github.com/rbflow/rbflow/engine/webhook"
)

// Notification events: when a procedure's notification hooks fire.
const (
	NotifyStart      = "start"       // the run started (not again on resume)
	NotifyFailure    = "failure"     // a main step failed, or the run ended failed
	NotifyOverTarget = "over_target" // the run passed its target: duration
	NotifyFinish     = "finish"      // the run ended, succeeded or failed
)

// NotifyEvents are the events a hook may name in on:, in the order a run
// meets them.
var NotifyEvents = []string{NotifyStart, NotifyFailure, NotifyOverTarget, NotifyFinish}

// DefaultNotifyEvents are a hook's events when it names none.
var DefaultNotifyEvents = []string{NotifyFailure, NotifyFinish}

// Notification is one entry of the procedure's notifications: a webhook
// told of the run's events.
type Notification struct {
	Pos     Pos
	Index   int      // its place in the list; the store keys what it sent by it
	URL     *Value   // may hold ${{ }} (a secret param, usually)
	Format  string   // webhook.JSON or webhook.Slack
	On      []string // NotifyEvents
	Text    *Value   // the headline, may hold ${{ }}; nil: the default
	Timeout time.Duration
}

func (d *decoder) notifications(v *Value, p *Procedure) {
	if v.Kind == Null {
		return
	}
	if v.Kind != List {
		d.errorf(v.Pos, "notifications must be a list of {url, format, on, text, timeout}, not %s", v.TypeName())
		return
	}
	for i, h := range v.List {
		if !d.keys(h, "a notification", notifyKeys) {
			continue
		}
		n := &Notification{Pos: h.Pos, Index: i, Format: webhook.JSON, On: DefaultNotifyEvents}
		if u := h.Get("url"); u == nil || u.Kind == Null || u.Kind == Scalar && strings.TrimSpace(u.Str) == "" {
			pos := h.Pos
			if u != nil {
				pos = u.Pos
			}
			d.errorf(pos, "a notification needs url: the webhook to post to, such as ${{ params.webhook }}")
		} else if _, ok := d.str(u, "notification url"); ok {
			n.URL = u
		}
		if f := h.Get("format"); f != nil {
			if s, ok := d.str(f, "notification format"); ok {
				if !slices.Contains(webhook.Formats, s) {
					d.errorf(f.Pos, "bad notification format %q: use %s%s", s, strings.Join(webhook.Formats, " or "), Hint(s, webhook.Formats))
				} else {
					n.Format = s
				}
			}
		}
		if on := h.Get("on"); on != nil {
			n.On = d.notifyEvents(on)
		}
		if t := h.Get("text"); t != nil && t.Kind != Null {
			if _, ok := d.str(t, "notification text"); ok {
				n.Text = t
			}
		}
		if t := h.Get("timeout"); t != nil {
			n.Timeout = d.duration(t, "notification timeout")
		}
		p.Notifications = append(p.Notifications, n)
	}
}

// notifyEvents reads on: one event or a list of them.
func (d *decoder) notifyEvents(v *Value) []string {
	items := []*Value{v}
	if v.Kind == List {
		items = v.List
		if len(items) == 0 {
			d.errorf(v.Pos, "notification on: is empty: name one or more of %s", strings.Join(NotifyEvents, ", "))
			return nil
		}
	}
	var out []string
	for _, x := range items {
		s, ok := d.str(x, "notification on")
		if !ok {
			continue
		}
		switch {
		case !slices.Contains(NotifyEvents, s):
			d.errorf(x.Pos, "unknown notification event %q: use %s%s", s, strings.Join(NotifyEvents, ", "), Hint(s, NotifyEvents))
		case slices.Contains(out, s):
			d.errorf(x.Pos, "notification event %q is named twice", s)
		default:
			out = append(out, s)
		}
	}
	return out
}

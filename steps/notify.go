package steps

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/eval"
	"github.com/rbflow/rbflow/engine/webhook"
)

// notifyKind posts a message to a chat or incident webhook, in Go: no
// python3 or curl is needed on the host, which mid-incident may be a
// stripped-down server. `notify: URL`.
type notifyKind struct{}

var _ engine.Kind = notifyKind{}

// maxNotifyText is the most text a notify step reads from with.text_file.
const maxNotifyText = 1 << 20

// Signature: the webhook URL, and what to post there.
func (notifyKind) Signature() engine.Signature {
	return engine.Signature{
		Arg: "the webhook URL to POST to (http or https), usually ${{ params.webhook }}, a secret param; it is never shown",
		With: []engine.Field{
			{Name: "format", Type: engine.String, Enum: webhook.Formats, Description: `the payload: json ({"text": ...}, the default) or slack ({"text": ..., "blocks": [...]})`},
			{Name: "text", Type: engine.String, Description: "the message (Markdown); or with.text_file"},
			{Name: "text_file", Type: engine.String, Description: "a file holding the message, such as a report step's run_path output"},
			{Name: "title", Type: engine.String, Description: "a header above the text"},
			{Name: "timeout", Type: engine.Duration, Description: "how long one post waits for an answer (default 30s); retry: posts again"},
		},
	}
}

func (notifyKind) Compile(c *engine.KindContext) engine.Action {
	if c.Step.Arg == nil || strings.TrimSpace(c.Step.Arg.Str) == "" {
		c.Errorf(c.Step.KindPos, "notify needs the webhook URL, such as ${{ params.webhook }}")
		return nil
	}
	args := c.With()
	ok := true
	switch {
	case args.Has("text") && args.Has("text_file"):
		c.Errorf(args.Pos("text_file"), "notify takes with.text or with.text_file, not both")
		ok = false
	case !args.Has("text") && !args.Has("text_file") && !unknownWith(c):
		c.Errorf(withPos(c), "notify needs with.text (the message) or with.text_file (a file holding it)")
		ok = false
	}
	if c.Step.DryRun == "run" {
		c.Errorf(c.Step.KindPos, "a notify step sends a message: it cannot declare dry_run: run (a dry run shows what it would post)")
		ok = false
	}
	url := c.ArgTemplate()
	if url == nil {
		return nil
	}
	if url.IsLiteral() {
		if _, err := webhook.CheckURL(c.Step.Arg.Str); err != nil {
			c.Errorf(c.Step.Arg.Pos, "%v", err)
			ok = false
		}
	}
	if !ok {
		return nil
	}
	return &notifyAction{url: url, args: args}
}

type notifyAction struct {
	url  *eval.Template
	args *engine.Args
}

// DefaultOnResume: rerun. A post cut off may or may not have arrived; a
// notification twice is better than none mid-incident.
func (*notifyAction) DefaultOnResume() string { return "rerun" }

// notice is what one notify step posts, evaluated.
type notice struct {
	url      string
	format   string
	msg      webhook.Message
	textFile string // where the text came from, for people
}

func (a *notifyAction) notice(x *engine.Exec, readFile bool) (n notice, err error) {
	if n.url, err = x.Render(a.url); err != nil {
		return n, fmt.Errorf("notify: %w", err)
	}
	r := x.Read(a.args)
	n.format = r.String("format")
	n.msg.Title = r.String("title")
	n.msg.Text = r.String("text")
	n.textFile = r.String("text_file")
	if r.Err != nil {
		return n, r.Err
	}
	if n.format == "" {
		n.format = webhook.JSON
	}
	if a.args.Has("text_file") && readFile {
		if strings.TrimSpace(n.textFile) == "" {
			return n, errors.New("with.text_file is empty")
		}
		if !filepath.IsAbs(n.textFile) {
			n.textFile = filepath.Join(x.Dir, n.textFile)
		}
		if n.msg.Text, err = readText(n.textFile); err != nil {
			return n, err
		}
	}
	// The message leaves the machine: no secret goes with it.
	n.msg.Title, n.msg.Text = x.Mask(n.msg.Title), x.Mask(n.msg.Text)
	return n, nil
}

// readText reads a message file, at most maxNotifyText bytes of it.
func readText(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("with.text_file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxNotifyText+1))
	if err != nil {
		return "", fmt.Errorf("with.text_file: %w", err)
	}
	if len(b) > maxNotifyText {
		return "", fmt.Errorf("with.text_file %s is over %d bytes: too long to post", path, maxNotifyText)
	}
	return string(b), nil
}

// Describe says what would be posted, and where, with the URL masked:
// nothing is sent.
func (a *notifyAction) Describe(ctx context.Context, x *engine.Exec) (string, error) {
	n, err := a.notice(x, false)
	if err != nil {
		return "", err
	}
	what := fmt.Sprintf("%d bytes of text", len(n.msg.Text))
	if a.args.Has("text_file") {
		what = "the text of " + n.textFile
		if strings.TrimSpace(n.textFile) == "" {
			what = "the text of the file with.text_file names (known when the step runs)"
		}
	}
	s := fmt.Sprintf("POST %s as %s: %s", webhook.Masked, n.format, what)
	if n.msg.Title != "" {
		s += fmt.Sprintf(", titled %q", n.msg.Title)
	}
	if _, err := webhook.CheckURL(n.url); err != nil {
		s += " (" + err.Error() + ")"
	}
	return x.Mask(s), nil
}

func (a *notifyAction) Execute(ctx context.Context, x *engine.Exec) (engine.Result, error) {
	res := engine.Result{ExitCode: 1, Outputs: map[string]any{}}
	n, err := a.notice(x, true)
	if err != nil {
		return res, engine.NotRetried(err)
	}
	if _, err := webhook.CheckURL(n.url); err != nil {
		return res, engine.NotRetried(err)
	}
	timeout, err := x.Duration(a.args, "timeout")
	if err != nil {
		return res, engine.NotRetried(err)
	}
	if timeout <= 0 {
		timeout = webhook.DefaultTimeout
	}
	fmt.Fprintf(x.Log, "POST %s as %s (%d bytes of text), waiting up to %s for the answer\n", webhook.Masked, n.format, len(n.msg.Text), timeout)
	status, err := webhook.Post(ctx, n.url, n.format, n.msg, timeout)
	if status != 0 {
		res.Outputs["status"] = status
		res.Outputs["webhook_status"] = status
	}
	if err != nil {
		var we *webhook.Error
		final := errors.As(err, &we) && !we.Retryable()
		err = errors.New(x.Mask(err.Error()))
		fmt.Fprintln(x.Log, err)
		if final {
			return res, engine.NotRetried(err)
		}
		return res, err
	}
	fmt.Fprintf(x.Log, "the webhook answered %d\n", status)
	res.ExitCode = 0
	return res, nil
}

// unknownWith reports whether the step's with: holds an argument the kind
// does not take: that is reported already, and may be the one missing.
func unknownWith(c *engine.KindContext) bool {
	if c.Step.With == nil {
		return false
	}
	sig := notifyKind{}.Signature()
	for _, e := range c.Step.With.Map {
		if !slices.ContainsFunc(sig.With, func(f engine.Field) bool { return f.Name == e.Key }) {
			return true
		}
	}
	return false
}

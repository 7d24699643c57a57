package steps

import (
	"strings"
	"testing"
)

// TestNotifyLoadErrors: what a notify step must be given, and what it
// may not do, is a load error at the step.
func TestNotifyLoadErrors(t *testing.T) {
	const head = "version: 1\nname: n\nparams:\n  hook: {type: string, secret: true}\nsteps:\n  - id: post\n"
	for _, c := range []struct{ step, want string }{
		{"    notify: ${{ params.hook }}\n", "notify needs with.text (the message) or with.text_file"},
		{"    notify: ${{ params.hook }}\n    with: {text: hi, text_file: r.md}\n", "notify takes with.text or with.text_file, not both"},
		{"    notify: ftp://hooks.example.com/s3cr3t\n    with: {text: hi}\n", `the webhook URL must start with http:// or https:// (it has "ftp")`},
		{"    notify: hooks.example.com/s3cr3t\n    with: {text: hi}\n", "(it has no scheme)"},
		{"    notify: ${{ params.hook }}\n    dry_run: run\n    with: {text: hi}\n", "it cannot declare dry_run: run"},
		{"    notify: ${{ params.hook }}\n    with: {text: hi, timeout: 5}\n", "with.timeout: 5 has no unit"},
		{"    notify: ${{ params.hok }}\n    with: {text: hi}\n", `unknown param "hok"`},
	} {
		_, err := loadPlan(t, head+c.step)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("load of\n%s= %v, want an error with %q", c.step, err, c.want)
		}
	}
	if _, err := loadPlan(t, head+"    notify: ${{ params.hook }}\n    with: {text_file: r.md, format: slack, title: Done, timeout: 5s}\n"); err != nil {
		t.Errorf("a full notify step: %v", err)
	}
}

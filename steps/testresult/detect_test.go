package testresult

import "testing"

func TestDetect(t *testing.T) {
	tests := []struct {
		command string
		files   []string
		want    string
	}{
		{"go test -json ./...", nil, FormatGoJSON},
		{"cd svc && go test -race -json -count=1 ./...", nil, FormatGoJSON},
		{"/usr/local/go/bin/go test --json ./pkg 2>&1", nil, FormatGoJSON},
		{"go test ./...", nil, FormatExitCode},
		{"go vet ./... && go test ./... -v | tee log; echo -json", nil, FormatExitCode},
		{"pytest -q", nil, FormatPytest},
		{"py.test tests/unit", nil, FormatPytest},
		{"python -m pytest -x", nil, FormatPytest},
		{"python3 -m pytest", nil, FormatPytest},
		{".venv/bin/pytest backend/tests", nil, FormatPytest},
		{"uv run pytest", nil, FormatPytest},
		{"pytest-3 -q", nil, FormatPytest},
		{"pytest --junitxml=out/junit.xml", nil, FormatJUnit},
		{"python -m pytest --junit-xml 'reports/my results.xml'", nil, FormatJUnit},
		{"gotestsum --junitfile unit.xml -- ./...", nil, FormatJUnit},
		{"make test", []string{"build/test-results.xml"}, FormatJUnit},
		{"./run-checks.sh", []string{"out/checks.TAP"}, FormatTAP},
		{"prove -r t/", nil, FormatTAP},
		{"/usr/bin/prove t/basic.t", nil, FormatTAP},
		{"node --test --test-reporter=tap", nil, FormatTAP},
		{"bats --tap test/", nil, FormatTAP},
		{"npm test", nil, FormatExitCode},
		{"", nil, FormatExitCode},
	}
	for _, tt := range tests {
		if got := Detect(tt.command, tt.files); got != tt.want {
			t.Errorf("Detect(%q, %q) = %q, want %q", tt.command, tt.files, got, tt.want)
		}
	}
}

func TestResultsPath(t *testing.T) {
	tests := []struct{ command, want string }{
		{"pytest --junitxml=out/junit.xml", "out/junit.xml"},
		{"pytest --junitxml out/junit.xml -q", "out/junit.xml"},
		{"pytest --junit-xml=r.xml", "r.xml"},
		{"pytest --junit-xml r.xml", "r.xml"},
		{`pytest "--junitxml=my reports/r.xml"`, "my reports/r.xml"},
		{`pytest --junitxml 'a b.xml'`, "a b.xml"},
		{"pytest --junitxml=a.xml --junitxml=b.xml", "b.xml"},
		{"gotestsum --junitfile=unit.xml", "unit.xml"},
		{"pytest --junitxml", ""},
		{"pytest --junitxml && echo done", ""},
		{"pytest -q", ""},
		{"pytest --junitxmlfoo=x", ""},
	}
	for _, tt := range tests {
		if got := ResultsPath(tt.command); got != tt.want {
			t.Errorf("ResultsPath(%q) = %q, want %q", tt.command, got, tt.want)
		}
	}
}

func TestShellWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a  b`, []string{"a", "b"}},
		{`a "b c" 'd e'`, []string{"a", "b c", "d e"}},
		{`a&&b;c|d||e`, []string{"a", "&&", "b", ";", "c", "|", "d", "||", "e"}},
		{`x 2>&1`, []string{"x", "2>&1"}},
		{`a\ b "q\"q" ''`, []string{"a b", `q"q`, ""}},
	}
	for _, tt := range tests {
		got := shellWords(tt.in)
		if len(got) != len(tt.want) {
			t.Errorf("shellWords(%q) = %q, want %q", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("shellWords(%q) = %q, want %q", tt.in, got, tt.want)
				break
			}
		}
	}
}

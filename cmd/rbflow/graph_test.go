package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/testkit"
	"github.com/rbflow/rbflow/procedures"
	"github.com/rbflow/rbflow/steps"
)

// hostileProcedure has step ids that are words of Mermaid's flowchart
// grammar, of DOT, or the names the graphs give their sections and nodes,
// and labels with every character that means something to either.
const hostileProcedure = `version: 1
name: hostile
params:
  tag: {type: string, default: ""}
  n: {type: int, default: 0}
steps:
  - id: end
    run: echo "end" 'quoted' [brackets] {braces} '(parens) |pipes|'
  - id: style
    needs: [end]
    run: 'echo lint style a:#b; c # <b>bold</b> &amp; 100%'
  - id: click
    needs: [end]
    run: echo é → ✓ 日本語 ﬂ°lt¶ß
  - id: subgraph
    needs: [end]
    run: 'printf "%%{init: {\"theme\": \"dark\"}}%%"'
  - id: graph
    needs: [style, click, subgraph]
    if: 'params.tag != "#<v>%" && params.n > 1 ? true : false'
    run: echo set direction LR and direction TB
  - id: flowchart
    needs: [graph]
    run: "echo ` + "`back`" + ` ticks\tand a tab"
  - id: class
    needs: [flowchart]
    run: echo xéééééééééééééééééééééééééééééééééééé
  - id: classdef
    needs: [class]
    if: params.n > 1
    run: echo classDef x fill:#f9f;
  - id: linkstyle
    needs: [classdef]
    run: echo linkStyle 0 stroke:#ff3;
  - id: direction
    needs: [linkstyle]
    run: echo
  - id: default
    needs: [direction]
    run: echo
  - id: interpolate
    needs: [default]
    run: echo
  - id: href
    needs: [interpolate]
    run: echo
  - id: call
    needs: [href]
    run: echo
  - id: v
    needs: [call]
    run: echo
  - id: o
    needs: [v]
    run: echo
  - id: x
    needs: [o]
    run: echo
  - id: main
    needs: [x, end]
    if: params.n > 1
    run: echo
  - id: n1
    needs: [main]
    run: echo
  - id: sec_main
    needs: [n1]
    run: echo
  - id: cluster_main
    needs: [sec_main]
    run: echo
  - id: node
    needs: [cluster_main]
    run: echo
  - id: edge
    needs: [node]
    run: echo
  - id: strict
    needs: [edge]
    run: echo
on_failure:
  - id: on_failure
    run: echo
  - id: digraph
    needs: [on_failure]
    run: echo
finally:
  - id: finally
    if: always()
    run: echo
  - id: accdescr
    if: always()
    run: echo
`

// mermaidReserved are the words of Mermaid's flowchart grammar (its
// lexer's keywords, directions and arrow heads) that cannot be a node id.
var mermaidReserved = []string{
	"end", "style", "click", "subgraph", "graph", "flowchart", "flowchart-elk", "swimlane-beta",
	"class", "classDef", "linkStyle", "default", "interpolate", "href", "call", "direction",
	"accTitle", "accDescr", "_self", "_blank", "_parent", "_top",
	"TB", "TD", "BT", "LR", "RL", "BR", "v", "o", "x",
}

// graphSource is one procedure to draw, with its compiled plan.
type graphSource struct {
	arg  string // as given to rbflow graph
	plan *engine.Plan
}

// graphSources returns every built-in, every example and the hostile
// procedure, compiled, and the repository to draw them in.
func graphSources(t *testing.T) ([]graphSource, string) {
	t.Helper()
	examples, err := filepath.Glob(filepath.Join(sourceRoot(t), "examples", "*", "*.yaml"))
	if err != nil || len(examples) < 4 {
		t.Fatalf("examples: %v (%d files)", err, len(examples))
	}
	hostile := filepath.Join(t.TempDir(), "hostile.yaml")
	if err := os.WriteFile(hostile, []byte(hostileProcedure), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := testkit.GitRepo(t, nil)
	reg := engine.NewRegistry()
	steps.Register(reg)
	a := &app{stdout: io.Discard, stderr: io.Discard, repoFlag: repo, registry: reg}
	var out []graphSource
	for _, arg := range append(append(procedures.Names(), examples...), hostile) {
		plan, _, err := a.load(context.Background(), arg, nil)
		if err != nil {
			t.Fatalf("load %s: %v", arg, err)
		}
		out = append(out, graphSource{arg: arg, plan: plan})
	}
	return out, repo
}

// name is a subtest name for a source.
func (g graphSource) name() string { return strings.TrimSuffix(filepath.Base(g.arg), ".yaml") }

var (
	mermaidNodeRE    = regexp.MustCompile(`^    (\S+?)(\["|\{\{")(.*)("\]|"\}\})$`)
	mermaidSubRE     = regexp.MustCompile(`^  subgraph (\S+?)\["(.*)"\]$`)
	mermaidEdgeRE    = regexp.MustCompile(`^  (\S+) (-->|-\.->|-\. .* \.->|-->\|".*"\||-\.->\|".*"\|) (\S+)$`)
	mermaidEdgeLabel = regexp.MustCompile(`^(?:-\. (.*) \.->|-\.?->\|"(.*)"\|)$`)
	mermaidEntityRE  = regexp.MustCompile(`#(\w+);`)
	// What Mermaid does to the whole text before parsing it: a line holding
	// "direction TB" is a direction statement, %%{ a directive, and a line
	// with style or classDef, ':' and then '#' loses a ';'.
	mermaidDirectionRE = regexp.MustCompile(`direction\s+(TB|BT|RL|LR|TD)`)
	mermaidStyleRE     = regexp.MustCompile(`(style|classDef).*:\S*#.*;`)
	safeNodeID         = regexp.MustCompile(`^n[0-9]+$`)
	safeSectionID      = regexp.MustCompile(`^sec_[a-z_]+$`)
)

// mermaidDecode reads a label as Mermaid shows it: entities, <br/>, and
// word joiners, which show nothing.
func mermaidDecode(s string) string {
	s = strings.NewReplacer("<br/>", "\n", "\u2060", "").Replace(s)
	return mermaidEntityRE.ReplaceAllStringFunc(s, func(e string) string {
		name := e[1 : len(e)-1]
		if n, err := strconv.Atoi(name); err == nil {
			return string(rune(n))
		}
		return html.UnescapeString("&" + name + ";")
	})
}

// mermaidGraph is what a Mermaid flowchart text holds, as the tests read it.
type mermaidGraph struct {
	nodes    map[string]string // node id: decoded label
	sections []string          // subgraph ids
	edges    map[[2]string]bool
	labels   []string // decoded labels of nodes and edges, in order
}

// parseMermaid reads the flowchart graphMermaid writes, failing t on any
// line it does not know or any shape rule the text breaks.
func parseMermaid(t *testing.T, text string) mermaidGraph {
	t.Helper()
	g := mermaidGraph{nodes: map[string]string{}, edges: map[[2]string]bool{}}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if lines[0] != "flowchart TB" {
		t.Errorf("first line = %q, want %q", lines[0], "flowchart TB")
	}
	if strings.Contains(text, "%%") {
		t.Errorf("the text holds %%%%, which Mermaid reads as a comment or directive")
	}
	if bad := mermaidEntityRE.ReplaceAllString(text, ""); strings.Contains(bad, "#") {
		t.Errorf("a '#' outside an entity: Mermaid reads #word; as one")
	}
	for i, line := range lines[1:] {
		if m := mermaidStyleRE.FindString(line); m != "" {
			t.Errorf("line %d %q: Mermaid drops the ';' of %q", i+2, line, m)
		}
		if mermaidDirectionRE.MatchString(line) && line != "    direction TB" {
			t.Errorf("line %d %q: Mermaid reads it as a direction statement", i+2, line)
		}
		switch {
		case line == "  end" || line == "    direction TB" || strings.HasPrefix(line, "  classDef ") || strings.HasPrefix(line, "  class "):
		case mermaidSubRE.MatchString(line):
			m := mermaidSubRE.FindStringSubmatch(line)
			g.sections = append(g.sections, m[1])
			if i+2 >= len(lines) || lines[i+2] != "    direction TB" {
				t.Errorf("subgraph %s: next line = %q, want direction TB", m[1], lines[i+2])
			}
		case mermaidNodeRE.MatchString(line):
			m := mermaidNodeRE.FindStringSubmatch(line)
			if _, dup := g.nodes[m[1]]; dup {
				t.Errorf("node %s declared twice", m[1])
			}
			if strings.Contains(m[3], `"`) {
				t.Errorf("line %d %q: a quote inside the label", i+2, line)
			}
			g.nodes[m[1]] = mermaidDecode(m[3])
			g.labels = append(g.labels, g.nodes[m[1]])
		case mermaidEdgeRE.MatchString(line):
			m := mermaidEdgeRE.FindStringSubmatch(line)
			g.edges[[2]string{m[1], m[3]}] = true
			if l := mermaidEdgeLabel.FindStringSubmatch(m[2]); l != nil {
				g.labels = append(g.labels, mermaidDecode(l[1]+l[2]))
			}
		default:
			t.Errorf("line %d %q: not a line of the graph", i+2, line)
		}
	}
	if len(g.sections) == 0 {
		t.Errorf("no subgraph")
	}
	for id := range g.nodes {
		if !safeNodeID.MatchString(id) {
			t.Errorf("node id %q does not match %s", id, safeNodeID)
		}
		if slices.Contains(g.sections, id) {
			t.Errorf("node id %q is also a subgraph id", id)
		}
	}
	for _, id := range g.sections {
		if !safeSectionID.MatchString(id) {
			t.Errorf("subgraph id %q does not match %s", id, safeSectionID)
		}
	}
	for _, id := range append(slices.Collect(maps.Keys(g.nodes)), g.sections...) {
		for _, w := range mermaidReserved {
			if strings.EqualFold(id, w) {
				t.Errorf("id %q is the Mermaid word %q", id, w)
			}
		}
	}
	for e := range g.edges {
		for _, end := range e {
			if _, ok := g.nodes[end]; !ok && !slices.Contains(g.sections, end) {
				t.Errorf("edge %s -> %s: %s is no node or subgraph", e[0], e[1], end)
			}
		}
	}
	return g
}

// checkConditionsOnce fails t unless each condition of plan is in labels
// (the decoded labels of a graph's nodes and edges) once for every step
// that has it: on that step's node, never on each edge into it.
func checkConditionsOnce(t *testing.T, plan *engine.Plan, labels []string) {
	t.Helper()
	conds := map[string]int{} // condition: steps that have it
	for _, s := range plan.Steps() {
		if c := condition(s); c != "" {
			conds[c]++
		}
	}
	for c, steps := range conds {
		shown := 0
		for _, l := range labels {
			if l == "if "+c || strings.HasSuffix(l, "\nif "+c) {
				shown++
			}
		}
		if shown != steps {
			t.Errorf("condition %q shown %d times, want %d (once on each step that has it)", c, shown, steps)
		}
	}
}

// TestGraphMermaid: for every built-in, every example and a procedure whose
// step ids are Mermaid's words, the Mermaid text is a top-to-bottom
// flowchart with safe ids, every step as a node labelled with its id and
// action, every needs edge, and each condition once per step that has it,
// on its node, never on an edge.
func TestGraphMermaid(t *testing.T) {
	t.Parallel()
	sources, repo := graphSources(t)
	for _, src := range sources {
		t.Run(src.name(), func(t *testing.T) {
			out, code := inProcess(t, "graph", src.arg, "--format", "mermaid", "--repo", repo)
			if code != 0 {
				t.Fatalf("graph %s --format mermaid: exit %d\n%s", src.arg, code, out)
			}
			if !utf8.ValidString(out) {
				t.Errorf("graph %s --format mermaid: not valid UTF-8", src.arg)
			}
			g := parseMermaid(t, out)
			node := map[string]string{} // step id: node id
			for id, l := range g.nodes {
				step, _, _ := strings.Cut(l, "\n")
				if prev, dup := node[step]; dup {
					t.Errorf("step %s labels nodes %s and %s", step, prev, id)
				}
				node[step] = id
			}
			for _, s := range src.plan.Steps() {
				id, ok := node[s.ID]
				if !ok {
					t.Errorf("step %s is no node's label", s.ID)
					continue
				}
				kind, arg := action(s)
				want := s.ID + "\n" + kind + ": " + arg
				if c := condition(s); c != "" {
					want += "\nif " + c
				}
				if g.nodes[id] != want {
					t.Errorf("node %s label = %q, want %q", id, g.nodes[id], want)
				}
				for _, n := range s.Needs {
					if !g.edges[[2]string{node[n.ID], id}] {
						t.Errorf("no edge %s --> %s (%s needs %s)", node[n.ID], id, s.ID, n.ID)
					}
				}
			}
			checkConditionsOnce(t, src.plan, g.labels)
		})
	}
}

// TestGraphDot: the DOT text of every built-in, every example and the
// hostile procedure has every step as a node, every needs edge, and each
// condition once per step; Graphviz draws it without a word when dot is
// installed.
func TestGraphDot(t *testing.T) {
	t.Parallel()
	sources, repo := graphSources(t)
	dot, _ := exec.LookPath("dot")
	nodeRE := regexp.MustCompile(`^    "((?:[^"\\]|\\.)*)" \[label="((?:[^"\\]|\\.)*)"(, style=dashed)?\];$`)
	edgeRE := regexp.MustCompile(`^  "((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)"(?: \[.*label="((?:[^"\\]|\\.)*)".*\])?;$`)
	unquote := strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\n`, "\n")
	for _, src := range sources {
		t.Run(src.name(), func(t *testing.T) {
			out, code := inProcess(t, "graph", src.arg, "--format", "dot", "--repo", repo)
			if code != 0 {
				t.Fatalf("graph %s --format dot: exit %d\n%s", src.arg, code, out)
			}
			if !utf8.ValidString(out) {
				t.Errorf("graph %s --format dot: not valid UTF-8", src.arg)
			}
			nodes, edges := map[string]string{}, map[[2]string]bool{}
			var labels []string
			for _, line := range strings.Split(out, "\n") {
				if m := nodeRE.FindStringSubmatch(line); m != nil {
					nodes[unquote.Replace(m[1])] = unquote.Replace(m[2])
					labels = append(labels, unquote.Replace(m[2]))
				} else if m := edgeRE.FindStringSubmatch(line); m != nil {
					edges[[2]string{unquote.Replace(m[1]), unquote.Replace(m[2])}] = true
					labels = append(labels, unquote.Replace(m[3]))
				}
			}
			for _, s := range src.plan.Steps() {
				want := label(s)
				if c := condition(s); c != "" {
					want += "\nif " + c
				}
				if nodes[s.ID] != want {
					t.Errorf("node %q label = %q, want %q", s.ID, nodes[s.ID], want)
				}
				for _, n := range s.Needs {
					if !edges[[2]string{n.ID, s.ID}] {
						t.Errorf("no edge %q -> %q", n.ID, s.ID)
					}
				}
			}
			checkConditionsOnce(t, src.plan, labels)
			if dot == "" {
				return
			}
			cmd := exec.Command(dot, "-Tsvg", "-o", os.DevNull)
			cmd.Stdin = strings.NewReader(out)
			if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
				t.Errorf("dot -Tsvg: %v\n%s", err, msg)
			}
		})
	}
}

// TestGraphMermaidRenders draws every graph with mermaid-cli, and checks
// that every label line is in the picture as written. Each drawing starts
// a browser (about 10 s a graph here), so it runs under make test-long and
// make test-graphs, where mermaid-cli is installed; make test checks the
// text's shape (TestGraphMermaid) only.
func TestGraphMermaidRenders(t *testing.T) {
	if !testkit.Long() {
		t.Skip("drawing with mmdc takes about 10 s a graph: make test-graphs (or test-long) runs it")
	}
	mmdc, err := exec.LookPath("mmdc")
	if err != nil {
		t.Skip("mmdc not on PATH: npm i -g @mermaid-js/mermaid-cli (PUPPETEER_SKIP_DOWNLOAD=1 with Debian's chromium) to draw the graphs")
	}
	t.Parallel()
	sources, repo := graphSources(t)
	dir := t.TempDir()
	var args []string
	for _, browser := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(browser); err == nil {
			cfg := filepath.Join(dir, "puppeteer.json")
			text := fmt.Sprintf(`{"executablePath": %q, "args": ["--no-sandbox"]}`, path)
			if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
			args = append(args, "-p", cfg)
			break
		}
	}
	tags := regexp.MustCompile(`<[^>]*>`)
	for _, src := range sources {
		t.Run(src.name(), func(t *testing.T) {
			out, code := inProcess(t, "graph", src.arg, "--format", "mermaid", "--repo", repo)
			if code != 0 {
				t.Fatalf("graph %s --format mermaid: exit %d\n%s", src.arg, code, out)
			}
			in, svg := filepath.Join(dir, src.name()+".mmd"), filepath.Join(dir, src.name()+".svg")
			if err := os.WriteFile(in, []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(mmdc, append(args, "-q", "-i", in, "-o", svg)...)
			var msg bytes.Buffer
			cmd.Stdout, cmd.Stderr = &msg, &msg
			if err := cmd.Run(); err != nil {
				t.Fatalf("mmdc: %v\n%s\ninput:\n%s", err, msg.String(), out)
			}
			b, err := os.ReadFile(svg)
			if err != nil {
				t.Fatal(err)
			}
			// The labels' text, line by line as the picture shows it (a word
			// joiner shows nothing).
			shown := strings.ReplaceAll(html.UnescapeString(tags.ReplaceAllStringFunc(string(b), func(tag string) string {
				if strings.HasPrefix(tag, "<br") || strings.HasPrefix(tag, "</p") {
					return "\n"
				}
				return ""
			})), "\u2060", "")
			for _, s := range src.plan.Steps() {
				kind, arg := action(s)
				lines := []string{s.ID, kind + ": " + arg}
				if c := condition(s); c != "" {
					lines = append(lines, strings.Split("if "+c, "\n")...)
				}
				for _, l := range lines {
					if !strings.Contains(shown, strings.TrimSpace(l)) {
						t.Errorf("step %s: %q is not in the picture", s.ID, l)
					}
				}
			}
		})
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
)

type graphCmd struct{ format string }

func (*graphCmd) Name() string  { return "graph" }
func (*graphCmd) Usage() string { return "PROCEDURE [--format mermaid|dot|text]" }
func (*graphCmd) Summary() string {
	return "draw a procedure's step graph: dependencies, conditions, on_failure and finally"
}
func (c *graphCmd) Flags(fs *pflag.FlagSet) {
	fs.StringVar(&c.format, "format", "text", "output `FORMAT`: text, mermaid or dot")
}

func (c *graphCmd) Run(ctx context.Context, a *app, args []string) error {
	if len(args) != 1 {
		return usagef("graph takes one procedure")
	}
	var draw func(io.Writer, *engine.Plan)
	switch c.format {
	case "text":
		draw = graphText
	case "mermaid":
		draw = graphMermaid
	case "dot":
		draw = graphDot
	default:
		return usagef("graph: unknown format %q: use text, mermaid or dot", c.format)
	}
	plan, _, err := a.load(ctx, args[0], nil)
	if err != nil {
		return err
	}
	draw(a.stdout, plan)
	return nil
}

// maxArg is how many runes of a step's argument a node shows.
const maxArg = 40

// action is what a step does, on one line: its kind and the first line of
// its argument, cut to maxArg runes (never inside a character).
func action(s *engine.Step) (kind, arg string) {
	if s.Spec.Arg != nil {
		arg = strings.TrimSpace(strings.SplitN(s.Spec.Arg.Str, "\n", 2)[0])
		if r := []rune(arg); len(r) > maxArg {
			arg = string(r[:maxArg-3]) + "..."
		}
	}
	return s.Kind, arg
}

// label is what a node shows: id and action.
func label(s *engine.Step) string {
	kind, arg := action(s)
	return fmt.Sprintf("%s\n%s: %s", s.ID, kind, arg)
}

func condition(s *engine.Step) string {
	if s.If == nil {
		return ""
	}
	return strings.TrimSpace(s.If.Source)
}

func graphText(w io.Writer, p *engine.Plan) {
	fmt.Fprintf(w, "%s", p.Name())
	if p.Procedure.Description != "" {
		fmt.Fprintf(w, " — %s", p.Procedure.Description)
	}
	fmt.Fprintln(w)
	for _, sec := range []struct {
		name  string
		steps []*engine.Step
	}{{"steps", p.Main}, {"on_failure (when a main step fails)", p.OnFailure}, {"finally (always, last)", p.Finally}} {
		if len(sec.steps) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s:\n", sec.name)
		for _, s := range sec.steps {
			var needs []string
			for _, n := range s.Needs {
				needs = append(needs, n.ID)
			}
			kind, arg := action(s)
			line := fmt.Sprintf("  %-20s %s: %s", s.ID, kind, arg)
			if len(needs) > 0 {
				line += "  <- " + strings.Join(needs, ", ")
			} else {
				line += "  (starts at once)"
			}
			if c := condition(s); c != "" {
				line += "  if " + c
			}
			if s.Spec.ContinueOnError {
				line += "  [continue_on_error]"
			}
			fmt.Fprintln(w, line)
		}
	}
}

// mermaidText escapes text for a quoted Mermaid label. Inside quotes only
// '"' ends the string, but Mermaid reads the whole diagram before parsing
// it: "#name;" anywhere is an entity, "%%{...}%%" a directive, a line
// holding "direction TB" a direction statement, and a line holding "style"
// or "classDef", then ':', then '#' loses the ';' after it. So '"', '#',
// '%', ':' and the other characters with a meaning are written as
// entities, "direction" with its first letter as one, and line breaks as
// <br/>. Mermaid marks entities with "ﬂ°" and "¶ß" while it draws and
// turns those back into "&" and ";" in the picture, so ﬂ and ¶ are
// followed by a word joiner, which shows nothing and splits the pair.
func mermaidText(s string) string {
	var b strings.Builder
	for len(s) > 0 {
		if rest, ok := strings.CutPrefix(s, "direction"); ok {
			b.WriteString("#100;irection")
			s = rest
			continue
		}
		if rest, ok := strings.CutPrefix(s, "\r\n"); ok {
			b.WriteString("<br/>")
			s = rest
			continue
		}
		r, size := utf8.DecodeRuneInString(s)
		s = s[size:]
		switch r {
		case '"':
			b.WriteString("#quot;")
		case '<':
			b.WriteString("#lt;")
		case '>':
			b.WriteString("#gt;")
		case '&':
			b.WriteString("#amp;")
		case '#', '%', ':', '`':
			fmt.Fprintf(&b, "#%d;", r)
		case '\uFB02', '\u00B6':
			b.WriteRune(r)
			b.WriteRune('\u2060')
		case '\n', '\r', '\u0085', '\u2028', '\u2029':
			b.WriteString("<br/>")
		default:
			if unicode.IsControl(r) {
				fmt.Fprintf(&b, "#%d;", r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	return b.String()
}

// mermaidSectionID is the Mermaid id of a section's subgraph: node ids are
// n1, n2, ..., so the two can never meet.
func mermaidSectionID(sec section) string { return "sec_" + sec.id }

// graphMermaid draws the plan as a Mermaid flowchart, top to bottom. Nodes
// have generated ids (n1, n2, ... in plan order), since a step id may be a
// Mermaid keyword (end, style, click) or a subgraph's name; the step id is
// the first line of the node's label. A step's condition is the last line
// of its label, shown once however many steps it needs.
func graphMermaid(w io.Writer, p *engine.Plan) {
	steps := p.Steps()
	ids := make(map[*engine.Step]string, len(steps))
	for i, s := range steps {
		ids[s] = fmt.Sprintf("n%d", i+1)
	}
	fmt.Fprintln(w, "flowchart TB")
	var conditional []string
	for _, sec := range sectionsOf(p) {
		if len(sec.steps) == 0 {
			continue
		}
		fmt.Fprintf(w, "  subgraph %s[\"%s\"]\n    direction TB\n", mermaidSectionID(sec), mermaidText(sec.title))
		for _, s := range sec.steps {
			kind, arg := action(s)
			text := mermaidText(s.ID) + "<br/>" + mermaidText(kind) + ": " + mermaidText(arg)
			if c := condition(s); c != "" {
				fmt.Fprintf(w, "    %s{{\"%s<br/>if %s\"}}\n", ids[s], text, mermaidText(c))
				conditional = append(conditional, ids[s])
			} else {
				fmt.Fprintf(w, "    %s[\"%s\"]\n", ids[s], text)
			}
		}
		fmt.Fprintln(w, "  end")
	}
	for _, s := range steps {
		for _, n := range s.Needs {
			fmt.Fprintf(w, "  %s --> %s\n", ids[n], ids[s])
		}
	}
	secs := sectionsOf(p)
	main, onFailure, finally := mermaidSectionID(secs[0]), mermaidSectionID(secs[1]), mermaidSectionID(secs[2])
	if len(p.Main) > 0 && len(p.OnFailure) > 0 {
		fmt.Fprintf(w, "  %s -. on failure .-> %s\n", main, onFailure)
	}
	if len(p.Finally) > 0 {
		fmt.Fprintf(w, "  %s -. always .-> %s\n", main, finally)
		if len(p.OnFailure) > 0 {
			fmt.Fprintf(w, "  %s -. always .-> %s\n", onFailure, finally)
		}
	}
	if len(conditional) > 0 {
		fmt.Fprintln(w, "  classDef conditional stroke-dasharray: 4 2")
		fmt.Fprintf(w, "  class %s conditional\n", strings.Join(conditional, ","))
	}
}

// dotText escapes text for a quoted DOT string, where a backslash starts
// an escape of Graphviz's own (\l, \N) and a line break is written \n.
func dotText(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`).Replace(s)
}

// dotQuote is s as a quoted DOT id: quoted, every DOT keyword (node, edge,
// graph, subgraph, strict) is a plain name.
func dotQuote(s string) string { return `"` + dotText(s) + `"` }

// graphDot draws the plan as a Graphviz digraph. Step ids are quoted, so
// none is a keyword; node and subgraph names live apart in DOT, so a step
// named cluster_main is its own node. A step's condition is the last line
// of its label, shown once however many steps it needs.
func graphDot(w io.Writer, p *engine.Plan) {
	fmt.Fprintf(w, "digraph %s {\n  rankdir=TB;\n  compound=true;\n  node [shape=box, fontname=\"monospace\"];\n", dotQuote(p.Name()))
	for _, sec := range sectionsOf(p) {
		if len(sec.steps) == 0 {
			continue
		}
		fmt.Fprintf(w, "  subgraph %s {\n    label=%s;\n", dotQuote("cluster_"+sec.id), dotQuote(sec.title))
		for _, s := range sec.steps {
			text, style := label(s), ""
			if c := condition(s); c != "" {
				text += "\nif " + c
				style = ", style=dashed"
			}
			fmt.Fprintf(w, "    %s [label=%s%s];\n", dotQuote(s.ID), dotQuote(text), style)
		}
		fmt.Fprintln(w, "  }")
	}
	for _, s := range p.Steps() {
		for _, n := range s.Needs {
			fmt.Fprintf(w, "  %s -> %s;\n", dotQuote(n.ID), dotQuote(s.ID))
		}
	}
	last := func(steps []*engine.Step) string { return dotQuote(steps[len(steps)-1].ID) }
	if len(p.OnFailure) > 0 {
		fmt.Fprintf(w, "  %s -> %s [style=dotted, label=\"on failure\", ltail=\"cluster_main\", lhead=\"cluster_on_failure\"];\n", last(p.Main), dotQuote(p.OnFailure[0].ID))
	}
	if len(p.Finally) > 0 {
		fmt.Fprintf(w, "  %s -> %s [style=dotted, label=\"always\", ltail=\"cluster_main\", lhead=\"cluster_finally\"];\n", last(p.Main), dotQuote(p.Finally[0].ID))
	}
	fmt.Fprintln(w, "}")
}

// section is one section of a plan as the graph draws it.
type section struct {
	id, title string
	steps     []*engine.Step
}

func sectionsOf(p *engine.Plan) []section {
	return []section{{"main", "steps", p.Main}, {"on_failure", "on_failure", p.OnFailure}, {"finally", "finally", p.Finally}}
}

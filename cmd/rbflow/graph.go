package main

import (
	"context"
	"fmt"
	"io"
	"strings"

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

// label is what a node shows: id and action.
func label(s *engine.Step) string {
	arg := ""
	if s.Spec.Arg != nil {
		arg = strings.TrimSpace(strings.SplitN(s.Spec.Arg.Str, "\n", 2)[0])
		if len(arg) > 40 {
			arg = arg[:37] + "..."
		}
	}
	return fmt.Sprintf("%s\n%s: %s", s.ID, s.Kind, arg)
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
			line := fmt.Sprintf("  %-20s %s", s.ID, strings.ReplaceAll(label(s)[len(s.ID)+1:], "\n", " "))
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

func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "\n", "<br/>", "<", "#lt;", ">", "#gt;")
	return r.Replace(s)
}

func graphMermaid(w io.Writer, p *engine.Plan) {
	fmt.Fprintln(w, "flowchart TD")
	for _, sec := range sectionsOf(p) {
		if len(sec.steps) == 0 {
			continue
		}
		fmt.Fprintf(w, "  subgraph %s[\"%s\"]\n", sec.id, sec.title)
		for _, s := range sec.steps {
			shape := "[\"%s\"]"
			if s.If != nil {
				shape = "{{\"%s\"}}"
			}
			fmt.Fprintf(w, "    %s"+shape+"\n", s.ID, mermaidText(label(s)))
		}
		fmt.Fprintln(w, "  end")
	}
	for _, s := range p.Steps() {
		for _, n := range s.Needs {
			if c := condition(s); c != "" {
				fmt.Fprintf(w, "  %s -.->|\"if %s\"| %s\n", n.ID, mermaidText(c), s.ID)
			} else {
				fmt.Fprintf(w, "  %s --> %s\n", n.ID, s.ID)
			}
		}
		if s.If != nil {
			fmt.Fprintf(w, "  class %s conditional\n", s.ID)
		}
	}
	if len(p.Main) > 0 && len(p.OnFailure) > 0 {
		fmt.Fprintln(w, "  main -. on failure .-> on_failure")
	}
	if len(p.Finally) > 0 {
		fmt.Fprintln(w, "  main -. always .-> finally")
		if len(p.OnFailure) > 0 {
			fmt.Fprintln(w, "  on_failure -. always .-> finally")
		}
	}
	fmt.Fprintln(w, "  classDef conditional stroke-dasharray: 4 2")
}

func dotText(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}

func graphDot(w io.Writer, p *engine.Plan) {
	fmt.Fprintf(w, "digraph %q {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n", p.Name())
	for _, sec := range sectionsOf(p) {
		if len(sec.steps) == 0 {
			continue
		}
		fmt.Fprintf(w, "  subgraph \"cluster_%s\" {\n    label=\"%s\";\n", sec.id, sec.title)
		for _, s := range sec.steps {
			style := ""
			if s.If != nil {
				style = ", style=dashed"
			}
			fmt.Fprintf(w, "    %q [label=\"%s\"%s];\n", s.ID, dotText(label(s)), style)
		}
		fmt.Fprintln(w, "  }")
	}
	for _, s := range p.Steps() {
		for _, n := range s.Needs {
			if c := condition(s); c != "" {
				fmt.Fprintf(w, "  %q -> %q [style=dashed, label=\"if %s\"];\n", n.ID, s.ID, dotText(c))
			} else {
				fmt.Fprintf(w, "  %q -> %q;\n", n.ID, s.ID)
			}
		}
	}
	last := func(steps []*engine.Step) string { return steps[len(steps)-1].ID }
	if len(p.OnFailure) > 0 {
		fmt.Fprintf(w, "  %q -> %q [style=dotted, label=\"on failure\", ltail=\"cluster_main\", lhead=\"cluster_on_failure\"];\n", last(p.Main), p.OnFailure[0].ID)
	}
	if len(p.Finally) > 0 {
		fmt.Fprintf(w, "  %q -> %q [style=dotted, label=\"always\", ltail=\"cluster_main\", lhead=\"cluster_finally\"];\n", last(p.Main), p.Finally[0].ID)
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

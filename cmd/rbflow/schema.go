package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine/spec"
)

type schemaCmd struct{}

func (*schemaCmd) Name() string  { return "schema" }
func (*schemaCmd) Usage() string { return "" }
func (*schemaCmd) Summary() string {
	return "print the JSON Schema of the procedure language (for editors: yaml-language-server)"
}
func (*schemaCmd) Flags(*pflag.FlagSet) {}

type obj = map[string]any

func str(desc string) obj { return obj{"type": "string", "description": desc} }

func enum(desc string, values ...string) obj {
	return obj{"type": "string", "enum": values, "description": desc}
}

// procedureSchema describes schema version 1 (SPEC §2). Editors use it for
// completion and checks; rbflow validate stays the authority (expressions,
// the graph and step arguments are checked there).
func procedureSchema() obj {
	duration := obj{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, "description": "a Go duration: 30s, 5m, 1h30m"}
	id := obj{"type": "string", "pattern": "^[a-z][a-z0-9_]*$"}
	env := obj{"type": "object", "propertyNames": obj{"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
		"additionalProperties": obj{"type": []string{"string", "number", "boolean", "null"}}, "description": "environment variables; values may use ${{ }}"}
	step := obj{
		"type":     "object",
		"required": []string{"id"},
		"properties": obj{
			"id":                obj{"$ref": "#/$defs/id"},
			"run":               str("a bash script; ${{ }} values are escaped for where they stand"),
			"git":               enum("a git action (arguments under with:)", "snapshot", "checkout", "switch", "reset", "clean", "stash", "branch", "tag", "commit", "cherry_pick", "restore_files", "fetch", "log", "diff", "status", "reflog", "rev_parse", "exec", "restore_snapshot"),
			"test":              str("a test command; its results are parsed (with.format)"),
			"report":            str("output path, or - for the step's output"),
			"prompt":            str("the question to ask"),
			"service":           enum("a service operation (with.name)", "start", "stop", "restart", "status"),
			"wait":              enum("what to poll", "http", "tcp", "command"),
			"call":              str("a built-in procedure name or a path: a child run"),
			"record":            enum("a metrics event", "rollback", "event"),
			"with":              obj{"type": "object", "description": "the action's typed arguments"},
			"needs":             obj{"type": "array", "items": obj{"$ref": "#/$defs/id"}, "description": "ids this step waits for; [] starts at once; without it, the step before"},
			"if":                str("a boolean expr-lang expression (no ${{ }}); implicitly success() && (...)"),
			"env":               obj{"$ref": "#/$defs/env"},
			"dir":               str("working directory, relative to the repository"),
			"timeout":           obj{"$ref": "#/$defs/duration"},
			"retry":             obj{"oneOf": []any{obj{"type": "integer", "minimum": 1, "maximum": 100}, obj{"type": "object", "additionalProperties": false, "properties": obj{"attempts": obj{"type": "integer", "minimum": 1, "maximum": 100}, "delay": obj{"$ref": "#/$defs/duration"}, "backoff": obj{"type": "number", "minimum": 1}, "if": str("expression over attempt and result")}}}},
			"continue_on_error": obj{"type": "boolean"},
			"on_resume":         enum("what resume does with the step if it was cut off while running", spec.OnResumePolicies...),
			"description":       str("what the step does, for people"),
			"dry_run":           enum("run: the step is read-only and runs in --dry-run", "run", "skip"),
			"idempotent":        obj{"type": "boolean", "description": "false: resume asks before running it again"},
			"shell":             enum("the shell of a run step", "bash", "sh"),
		},
		"additionalProperties": false,
		"oneOf":                oneAction(),
	}
	steps := obj{"type": "array", "items": obj{"$ref": "#/$defs/step"}}
	return obj{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  "https://rbflow.dev/schema/procedure-v1.json",
		"title":                "rbflow procedure",
		"type":                 "object",
		"required":             []string{"version", "name", "steps"},
		"additionalProperties": false,
		"properties": obj{
			"version":     obj{"const": 1},
			"name":        obj{"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
			"description": str("what the procedure is for"),
			"severity":    enum("how severe the situation it answers is", spec.Severities...),
			"target":      obj{"$ref": "#/$defs/duration"},
			"contacts": obj{"type": "array", "items": obj{"type": "object", "additionalProperties": false,
				"properties": obj{"role": str("role"), "name": str("who"), "reach": str("how to reach them")}}},
			"params": obj{"type": "object", "propertyNames": obj{"pattern": "^[a-z][a-z0-9_]*$"},
				"additionalProperties": obj{"type": "object", "additionalProperties": false, "properties": obj{
					"type":        enum("the param's type", spec.TypeString, spec.TypeInt, spec.TypeBool, spec.TypeList, spec.TypeCommand),
					"default":     obj{},
					"required":    obj{"type": "boolean"},
					"enum":        obj{"type": "array", "minItems": 1},
					"description": str("what the param is"),
					"secret":      obj{"type": "boolean", "description": "masked as *** in logs, reports and events"},
				}}},
			"env":        obj{"$ref": "#/$defs/env"},
			"steps":      steps,
			"on_failure": steps,
			"finally":    steps,
		},
		"$defs": obj{"id": id, "duration": duration, "env": env, "step": step},
	}
}

// oneAction requires exactly one action key per step.
func oneAction() []any {
	var out []any
	for _, k := range spec.Kinds {
		out = append(out, obj{"required": []string{k}})
	}
	return out
}

func (*schemaCmd) Run(_ context.Context, a *app, args []string) error {
	if len(args) > 0 {
		return usagef("schema takes no arguments")
	}
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(procedureSchema())
}

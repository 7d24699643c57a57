package main

import (
	"context"
	"encoding/json"

	"github.com/spf13/pflag"

	"github.com/rbflow/rbflow/engine"
	"github.com/rbflow/rbflow/engine/spec"
	webhooks "github.com/rbflow/rbflow/engine/webhook"
)

type schemaCmd struct{}

func (*schemaCmd) Name() string  { return "schema" }
func (*schemaCmd) Usage() string { return "" }
func (*schemaCmd) Summary() string {
	return "print the JSON Schema of the procedure language (for editors: yaml-language-server)"
}
func (*schemaCmd) Flags(*pflag.FlagSet) {}

func (*schemaCmd) Run(_ context.Context, a *app, args []string) error {
	if len(args) > 0 {
		return usagef("schema takes no arguments")
	}
	text, err := schemaJSON(a.registry)
	if err != nil {
		return err
	}
	_, err = a.stdout.Write(text)
	return err
}

// schemaJSON is the text rbflow schema prints and rbflow init writes.
func schemaJSON(reg *engine.Registry) ([]byte, error) {
	text, err := json.MarshalIndent(procedureSchema(reg), "", "  ")
	return append(text, '\n'), err
}

type obj = map[string]any

// Value patterns, written for both RE2 (Go validators) and ECMA-262 (the
// editors'): no look-around, no inline flags.
const (
	// exprPattern: the loader takes a string holding ${{ as an expression,
	// checked against its type when the procedure is compiled.
	exprPattern = `\$\{\{`
	// durationBody is what time.ParseDuration takes, less negative
	// durations, which the loader refuses ("-0s" is zero, so it is in).
	durationBody = `([-+]?0|\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+|-((0+(\.0*)?|\.0+)(ns|us|µs|μs|ms|s|m|h))+)`
	// zeroDuration is a duration of 0 written in any of the ways
	// time.ParseDuration takes.
	zeroDuration = `^[-+]?((0+(\.0*)?|\.0+)(ns|us|µs|μs|ms|s|m|h)?)+$`
	// boolText and intText are the texts a with: argument of those types
	// takes when it is written as a string (the loader reads the text).
	boolText = `^\s*([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])\s*$`
	intText  = `^\s*(0|-?[1-9][0-9]*)\s*$`
)

// Building blocks. The loader reads most values as text, whatever YAML
// made of them: `run: 5` is the script "5", `description: 2024` the text
// "2024". So where it takes text the schema takes numbers and booleans too.
var (
	scalar = obj{"type": []string{"string", "number", "boolean"}}
	expr   = obj{"type": "string", "pattern": exprPattern, "description": "a ${{ }} expression"}
)

// text is free text; an empty value (null) is no text.
func text(desc string) obj {
	s := obj{"type": []string{"string", "number", "boolean", "null"}}
	if desc != "" {
		s["description"] = desc
	}
	return s
}

// argText is the value of an action key that takes free text: never blank.
func argText(desc string) obj {
	return obj{"anyOf": []any{obj{"type": "string", "pattern": `\S`}, obj{"type": []string{"number", "boolean"}}}, "description": desc}
}

func enum(desc string, values ...string) obj {
	return obj{"type": "string", "enum": values, "description": desc}
}

// named is a name matching pattern. YAML reads true and false as booleans;
// the loader takes their text, which the name patterns accept.
func named(pattern, desc string) obj {
	return obj{"anyOf": []any{obj{"type": "string", "pattern": pattern}, obj{"type": "boolean"}}, "description": desc}
}

// procedureSchema describes schema version 1 (SPEC §2) for editors. The
// step kinds, the actions they name and their with: arguments come from
// reg, the keys and enums from engine/spec. It accepts every form rbflow
// validate accepts; what a schema cannot say (expressions, the ids needs
// and expressions name, cycles, duplicate ids, refs and paths, rules
// between arguments) rbflow validate checks, and TestSchemaAgreesWithLoader
// lists it.
func procedureSchema(reg *engine.Registry) obj {
	// The loader reads a procedure's durations as written: a Go duration,
	// or 0 (YAML makes that a number).
	duration := obj{"anyOf": []any{
		obj{"type": "string", "pattern": "^" + durationBody + "$"},
		obj{"const": 0},
	}, "description": "a Go duration: 30s, 5m, 1h30m"}
	id := named(spec.IDPattern, "a step id: lowercase letters, digits and underscores")
	// Names are checked with patternProperties rather than propertyNames,
	// so that validators and editors point at the map that holds a bad one.
	env := obj{"type": "object", "patternProperties": obj{spec.EnvNamePattern: text("")}, "additionalProperties": false,
		"description": "environment variables; values may use ${{ }}"}
	// An if: is an expression, bare: a ${{ }} there is the always-true trap
	// the loader refuses, and so is an empty one.
	cond := func(desc string) obj {
		return obj{"anyOf": []any{obj{"type": "boolean"}, obj{"type": "string", "pattern": `\S`, "not": obj{"pattern": exprPattern}}}, "description": desc}
	}
	attempts := obj{"type": "integer", "minimum": 1, "maximum": 100}

	props := obj{
		"id":   obj{"$ref": "#/$defs/id"},
		"with": obj{"type": []string{"object", "null"}, "description": "the action's typed arguments"},
		"needs": obj{"anyOf": []any{
			obj{"type": "array", "items": obj{"$ref": "#/$defs/id"}},
			obj{"$ref": "#/$defs/id"},
			obj{"type": "null"},
		}, "description": "ids this step waits for; [] starts at once; without it, the step before"},
		"if":      cond("a boolean expr-lang expression (no ${{ }}); implicitly success() && (...)"),
		"env":     obj{"$ref": "#/$defs/env"},
		"dir":     text("working directory, relative to the repository; may use ${{ }}"),
		"timeout": obj{"$ref": "#/$defs/duration"},
		"retry": obj{"anyOf": []any{attempts, obj{"type": "object", "additionalProperties": false, "properties": obj{
			"attempts": attempts,
			"delay":    obj{"$ref": "#/$defs/duration"},
			"backoff":  obj{"type": "number", "minimum": 1},
			"if":       cond("an expression over attempt and the last result"),
		}}}},
		"for_each": obj{"anyOf": []any{
			obj{"type": "array"},
			obj{"type": "string", "pattern": `\S`, "not": obj{"pattern": exprPattern}},
		}, "description": "run the step once per item: a list, or a bare expression that gives one (params.files); item and index in its expressions, each item's result in outputs.items"},
		"max_parallel":      obj{"type": "integer", "minimum": 1, "description": "how many items of for_each run at once (default 1; never more than --parallel)"},
		"continue_on_error": obj{"type": "boolean"},
		"on_resume":         enum("what resume does with the step if it was cut off while running", spec.OnResumePolicies...),
		"description":       text("what the step does, for people"),
		"dry_run":           enum("run: the step is read-only and runs in --dry-run", spec.DryRunModes...),
		"idempotent":        obj{"type": "boolean", "description": "false: resume asks before running it again"},
		"shell":             enum("the shell of a run or test step", spec.Shells...),
	}
	var oneAction, kinds []any
	for _, key := range reg.Keys() {
		sig, _ := reg.Signature(key)
		oneAction = append(oneAction, obj{"required": []string{key}})
		kinds = append(kinds, obj{"if": obj{"required": []string{key}}, "then": kindSchema(key, sig)})
		if len(sig.Actions) > 0 {
			actions := enum(sig.Arg, sig.ActionNames()...)
			var docs []string
			for _, a := range sig.Actions {
				docs = append(docs, a.Description)
			}
			actions["enumDescriptions"] = docs // editors show them next to each action
			props[key] = actions
		} else {
			props[key] = argText(sig.Arg)
		}
	}
	step := obj{
		"type":                 "object",
		"required":             []string{"id"},
		"properties":           props,
		"additionalProperties": false,
		"oneOf":                oneAction,
		"allOf":                kinds,
		"dependentRequired":    obj{"max_parallel": []string{"for_each"}},
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
			"name":        named(spec.NamePattern, "lowercase letters, digits and dashes"),
			"description": text("what the procedure is for"),
			"severity":    enum("how severe the situation it answers is", spec.Severities...),
			"target":      obj{"$ref": "#/$defs/duration"},
			// A deadline of 0 would stop every run at once: the loader refuses it.
			"deadline": obj{"type": "string", "pattern": "^" + durationBody + "$", "not": obj{"pattern": zeroDuration},
				"description": "stop a run that goes on longer than this (running steps get the grace period, finally runs, the run fails); counted from each start, resume or retry"},
			"contacts": obj{"type": "array", "items": obj{"type": "object", "additionalProperties": false,
				"properties": obj{"role": text("role"), "name": text("who"), "reach": text("how to reach them")}}},
			"notifications": obj{"type": "array", "items": notificationSchema(), "description": "webhooks told of the run's start, failure, passing of its target and end"},
			"params":        obj{"type": "object", "patternProperties": obj{spec.IDPattern: paramSchema()}, "additionalProperties": false},
			"env":           obj{"$ref": "#/$defs/env"},
			"steps":         obj{"type": "array", "minItems": 1, "items": obj{"$ref": "#/$defs/step"}},
			"on_failure":    steps,
			"finally":       steps,
		},
		"$defs": obj{"id": id, "duration": duration, "env": env, "step": step,
			// The types of with: arguments (fieldSchema).
			"bool_arg":     obj{"anyOf": []any{obj{"type": "boolean"}, obj{"type": "string", "pattern": boolText}, expr}},
			"int_arg":      obj{"anyOf": []any{obj{"type": "integer"}, obj{"type": "string", "pattern": intText}, expr}},
			"duration_arg": obj{"anyOf": []any{obj{"type": "string", "pattern": `^\s*` + durationBody + `\s*$`}, obj{"const": 0}, expr}},
			// One item may be written without the list; an expression gives
			// the whole list.
			"list_arg": obj{"anyOf": []any{obj{"type": "array", "items": scalar}, scalar}},
		},
	}
}

// paramSchema describes a param declaration; its default has the param's
// type (string when none is given).
func paramSchema() obj {
	typed := func(typ string, dflt obj) obj {
		cond := obj{"properties": obj{"type": obj{"const": typ}}}
		if typ != spec.TypeString {
			cond["required"] = []string{"type"}
		}
		return obj{"if": cond, "then": obj{"properties": obj{"default": dflt}}}
	}
	return obj{"type": "object", "additionalProperties": false,
		"properties": obj{
			"type":        enum("the param's type (default: string)", spec.ParamTypes...),
			"default":     obj{"description": "the value when none is given"},
			"required":    obj{"type": "boolean"},
			"enum":        obj{"type": "array", "minItems": 1, "items": scalar, "description": "the values the param takes"},
			"description": text("what the param is"),
			"secret":      obj{"type": "boolean", "description": "masked as *** in logs, reports and events, never stored"},
			"from_env":    obj{"type": "string", "pattern": spec.EnvNamePattern, "description": "a secret's value from this environment variable, read again on resume"},
			"from_file":   obj{"type": "string", "minLength": 1, "description": "a secret's value from this file (its last newline dropped), read again on resume"},
			"items": obj{"type": "object", "minProperties": 1, "additionalProperties": false,
				"patternProperties": obj{spec.IDPattern: enum("the field's type", spec.FieldTypes...)},
				"description":       "a list of records: each item's fields and their types ({name: string, port: int, start: command})"},
		},
		"allOf": []any{
			typed(spec.TypeString, text("")),
			typed(spec.TypeInt, obj{"type": []string{"integer", "null"}}),
			typed(spec.TypeBool, obj{"type": []string{"boolean", "null"}}),
			typed(spec.TypeList, obj{"anyOf": []any{obj{"type": "array", "items": obj{"anyOf": []any{scalar, obj{"type": "object"}}}}, text(""), obj{"type": "object"}}}),
			// items: is for lists.
			obj{"if": obj{"required": []string{"items"}}, "then": obj{"required": []string{"type"}, "properties": obj{"type": obj{"const": spec.TypeList}}}},
			// from_env and from_file are for secrets, one at a time.
			obj{"if": obj{"anyOf": []any{obj{"required": []string{"from_env"}}, obj{"required": []string{"from_file"}}}},
				"then": obj{"required": []string{"secret"}, "properties": obj{"secret": obj{"const": true}},
					"not": obj{"required": []string{"from_env", "from_file"}}}},
		},
	}
}

// kindSchema is what a step with action key key must hold besides the
// key itself: for a kind with actions, the with: of the action it names.
func kindSchema(key string, sig engine.Signature) obj {
	if len(sig.Actions) == 0 {
		return withSchema(sig.Fields(""), "the arguments of "+key)
	}
	var each []any
	for _, a := range sig.Actions {
		each = append(each, obj{
			"if":   obj{"properties": obj{key: obj{"const": a.Name}}},
			"then": withSchema(sig.Fields(a.Name), key+": "+a.Name+": "+a.Description),
		})
	}
	return obj{"allOf": each}
}

// withSchema constrains a step's with: to fields: no other key, each of its
// type, the required ones present.
func withSchema(fields []engine.Field, desc string) obj {
	props := obj{}
	var required []string
	for _, f := range fields {
		props[f.Name] = fieldSchema(f)
		if f.Required {
			required = append(required, f.Name)
		}
	}
	with := obj{"type": []string{"object", "null"}, "properties": props, "additionalProperties": false, "description": desc}
	out := obj{"properties": obj{"with": with}}
	if len(required) > 0 {
		with["type"] = "object"
		with["required"] = required
		out["required"] = []string{"with"}
	}
	return out
}

// fieldSchema is what the loader takes for one with: argument. Wherever
// the type is not text, one ${{ }} is taken too: it is checked when the
// procedure is compiled, or when the step runs.
func fieldSchema(f engine.Field) obj {
	var s obj
	switch f.Type {
	case engine.String:
		s = obj{"type": scalar["type"]}
		if len(f.Enum) > 0 {
			s = obj{"anyOf": []any{obj{"enum": f.Enum}, expr}}
		}
	case engine.Bool:
		s = obj{"$ref": "#/$defs/bool_arg"}
	case engine.Int:
		s = obj{"$ref": "#/$defs/int_arg"}
	case engine.Duration:
		s = obj{"$ref": "#/$defs/duration_arg"}
	case engine.List:
		s = obj{"$ref": "#/$defs/list_arg"}
	case engine.StringMap:
		s = obj{"type": "object", "additionalProperties": text("")}
	case engine.Map:
		s = obj{"type": "object"}
	default: // engine.Any
		s = obj{}
	}
	if f.Description != "" {
		s["description"] = f.Description
	}
	return s
}

// notificationSchema describes one notification hook.
func notificationSchema() obj {
	return obj{"type": "object", "additionalProperties": false, "required": []string{"url"},
		"properties": obj{
			"url":    obj{"type": "string", "pattern": `^\s*([Hh][Tt][Tt][Pp][Ss]?://[^/\s]|.*\$\{\{)`, "description": "the webhook (http or https), usually ${{ params.webhook }}, a secret param"},
			"format": enum("the payload: json ({\"text\": ...}) or slack (text and blocks)", webhooks.Formats...),
			"on": obj{"anyOf": []any{
				obj{"type": "array", "minItems": 1, "uniqueItems": true, "items": enum("", spec.NotifyEvents...)},
				enum("", spec.NotifyEvents...),
			}, "description": "the events it fires on (default: failure and finish)"},
			"text":    text("the headline, instead of the default one; may use ${{ }}"),
			"timeout": obj{"$ref": "#/$defs/duration"},
		}}
}

package engine

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/rbflow/rbflow/engine/spec"
)

// ParamError is a bad param value from the command line or a params file.
type ParamError struct {
	Param string
	Msg   string
}

func (e *ParamError) Error() string {
	if e.Param == "" {
		return e.Msg
	}
	return fmt.Sprintf("param %s: %s", e.Param, e.Msg)
}

// ParamInput is the raw param input of one run: --set pairs in order and the
// decoded --params-file, if any.
type ParamInput struct {
	Sets []string               // NAME=VALUE
	File map[string]*spec.Value // from spec.ParamsFile
	// Given are params already typed (a stored run's params, a call step's).
	// A secret the store did not keep must be given again (Sets) or is read
	// again from its source.
	Given map[string]any
	// Dir is where a relative from_file path starts: the repository.
	Dir string
}

// ResolveParams converts the input to the declared types, applies defaults
// and checks required params and enums. Every problem is reported.
func ResolveParams(p *spec.Procedure, in ParamInput) (map[string]any, error) {
	decl := map[string]*spec.Param{}
	var names []string
	for _, pm := range p.Params {
		decl[pm.Name] = pm
		names = append(names, pm.Name)
	}
	out := map[string]any{}
	given := map[string]bool{}   // written, even if the value was wrong
	pending := map[string]bool{} // secrets the store did not keep
	var errs []error
	unknown := func(name string) error {
		h := spec.Hint(name, names)
		if len(names) == 0 {
			return &ParamError{Param: name, Msg: fmt.Sprintf("procedure %s takes no params", p.Name)}
		}
		return &ParamError{Param: name, Msg: fmt.Sprintf("unknown param%s; %s takes %s", h, p.Name, strings.Join(names, ", "))}
	}
	keys := make([]string, 0, len(in.Given))
	for k := range in.Given {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		pm, ok := decl[k]
		if !ok {
			errs = append(errs, unknown(k))
			continue
		}
		given[k] = true
		if isNotKept(in.Given[k]) {
			pending[k] = true
			continue
		}
		v, err := typed(pm, in.Given[k])
		if err != nil {
			errs = append(errs, &ParamError{Param: k, Msg: err.Error()})
			continue
		}
		out[k] = v
	}
	fileKeys := make([]string, 0, len(in.File))
	for k := range in.File {
		fileKeys = append(fileKeys, k)
	}
	sort.Strings(fileKeys)
	for _, k := range fileKeys {
		pm, ok := decl[k]
		if !ok {
			errs = append(errs, unknown(k))
			continue
		}
		given[k] = true
		v, err := pm.FromValue(in.File[k])
		if err != nil {
			errs = append(errs, &ParamError{Param: k, Msg: err.Error()})
			continue
		}
		out[k] = v
	}
	listSet := map[string]bool{}
	// nameless: a --set whose name is lost (=x, or a bare word that is no
	// param). It may have been meant for any param, so a required one
	// missing is not reported next to it: that would be the same mistake
	// twice, or one the user has not made.
	nameless := false
	for _, kv := range in.Sets {
		name, val, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			if _, known := decl[kv]; known {
				given[kv] = true
			} else {
				nameless = true
			}
			errs = append(errs, &ParamError{Param: kv, Msg: "--set takes NAME=VALUE"})
			continue
		case name == "":
			nameless = true
			msg := fmt.Sprintf("--set %s: the param name is missing: --set takes NAME=VALUE", kv)
			if len(names) > 0 {
				msg += fmt.Sprintf(" (%s takes %s)", p.Name, strings.Join(names, ", "))
			}
			errs = append(errs, &ParamError{Msg: msg})
			continue
		}
		pm, known := decl[name]
		if !known {
			errs = append(errs, unknown(name))
			// A name close to a declared one was meant for it.
			if s := spec.Suggest(name, names); s != "" {
				given[s] = true
			}
			continue
		}
		given[name] = true
		v, err := pm.FromString(val)
		if err != nil {
			errs = append(errs, &ParamError{Param: name, Msg: err.Error()})
			continue
		}
		switch {
		case pm.Type == spec.TypeList && listSet[name] && pm.Items != nil:
			out[name] = append(out[name].([]map[string]any), v.([]map[string]any)...)
		case pm.Type == spec.TypeList && listSet[name]:
			out[name] = append(out[name].([]string), v.([]string)...)
		default:
			out[name] = v
		}
		listSet[name] = true
	}
	errs = append(errs, secretSources(p, in.Dir, out, pending)...)
	for name, v := range out {
		if err := checkControl(decl[name], v); err != nil {
			errs = append(errs, &ParamError{Param: name, Msg: err.Error()})
			delete(out, name)
		}
	}
	for _, pm := range p.Params {
		if _, ok := out[pm.Name]; ok || given[pm.Name] {
			continue
		}
		switch {
		case pm.Default != nil:
			out[pm.Name] = pm.Default
		case pm.Required && pm.FromEnv == "" && pm.FromFile == "": // secretSources said why it has none
			if !nameless {
				errs = append(errs, &ParamError{Param: pm.Name, Msg: fmt.Sprintf("required: pass --set %s=VALUE", pm.Name)})
			}
		default:
			out[pm.Name] = zero(pm.Type)
			if pm.Items != nil {
				out[pm.Name] = []map[string]any{}
			}
		}
	}
	if len(errs) > 0 {
		return nil, joinErrs(errs)
	}
	return out, nil
}

// checkControl refuses NUL and control characters in a value: no process
// can take a NUL in its environment or arguments, and an escape sequence
// or carriage return in a param would rewrite what an operator reads. A
// string (or command) may hold tabs and newlines; a list item is one line.
func checkControl(pm *spec.Param, v any) error {
	check := func(s string, newline bool) error {
		for i := 0; i < len(s); i++ {
			b := s[i]
			if b == '\t' || b == '\n' && newline || b >= 0x20 && b != 0x7f {
				continue
			}
			what := fmt.Sprintf("control character %q", b)
			switch b {
			case 0:
				what = "NUL byte"
			case '\n':
				what = "newline"
			}
			return fmt.Errorf("value holds a %s at byte %d: refused (a list item is one line; only tabs and newlines are taken in text)", what, i)
		}
		return nil
	}
	switch x := v.(type) {
	case string:
		return check(x, true)
	case []string:
		for _, item := range x {
			if err := check(item, false); err != nil {
				return err
			}
		}
	case []map[string]any:
		for i, item := range x {
			for _, f := range pm.Items {
				if s, ok := item[f.Name].(string); ok {
					if err := check(s, f.Type == spec.TypeCommand); err != nil {
						return fmt.Errorf("item %d: %s: %w", i+1, f.Name, err)
					}
				}
			}
		}
	}
	return nil
}

// typed converts a stored or passed value (from JSON: float64, []any) to the
// param's type.
func typed(pm *spec.Param, v any) (any, error) {
	switch pm.Type {
	case spec.TypeInt:
		switch n := v.(type) {
		case int:
			return n, nil
		case int64:
			return int(n), nil
		case float64:
			if n == float64(int(n)) {
				return int(n), nil
			}
		case string:
			return pm.FromString(n)
		}
	case spec.TypeBool:
		switch b := v.(type) {
		case bool:
			return b, nil
		case string:
			return pm.FromString(b)
		}
	case spec.TypeList:
		if pm.Items != nil {
			return typedRecords(pm, v)
		}
		switch l := v.(type) {
		case []string:
			return slices.Clone(l), nil
		case []any:
			out := make([]string, len(l))
			for i, e := range l {
				s, ok := e.(string)
				if !ok {
					s = fmt.Sprint(e)
				}
				out[i] = s
			}
			return out, nil
		case string:
			return pm.FromString(l)
		}
	default:
		switch s := v.(type) {
		case string:
			return pm.FromString(s)
		case int, bool, float64:
			return pm.FromString(fmt.Sprint(s))
		}
	}
	return nil, fmt.Errorf("want %s, got %v", pm.Type, v)
}

// typedRecords converts a list of records from JSON (a stored run's
// params: []any of map[string]any, numbers as float64) or as given.
func typedRecords(pm *spec.Param, v any) (any, error) {
	var list []map[string]any
	switch l := v.(type) {
	case []map[string]any:
		list = l
	case []any:
		for i, e := range l {
			m, ok := e.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("item %d: want a map of %s, got %v", i+1, pm.Name, e)
			}
			list = append(list, m)
		}
	case string:
		return pm.FromString(l)
	case nil:
	default:
		return nil, fmt.Errorf("want a list of records, got %v", v)
	}
	out := make([]map[string]any, 0, len(list))
	for i, m := range list {
		item := make(map[string]any, len(pm.Items))
		for _, f := range pm.Items {
			item[f.Name] = zero(f.Type)
		}
		for k, val := range m {
			f := pm.Field(k)
			if f == nil {
				return nil, fmt.Errorf("item %d: unknown field %q", i+1, k)
			}
			tv, err := typed(&spec.Param{Name: pm.Name, Type: f.Type}, val)
			if err != nil {
				return nil, fmt.Errorf("item %d: %s: %w", i+1, k, err)
			}
			item[k] = tv
		}
		out = append(out, item)
	}
	return out, nil
}

func zero(t string) any {
	switch t {
	case spec.TypeInt:
		return 0
	case spec.TypeBool:
		return false
	case spec.TypeList:
		return []string{}
	}
	return ""
}

// multiError joins several errors, one per line.
type multiError []error

func (m multiError) Error() string {
	parts := make([]string, len(m))
	for i, e := range m {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

func (m multiError) Unwrap() []error { return m }

func joinErrs(errs []error) error {
	if len(errs) == 1 {
		return errs[0]
	}
	return multiError(errs)
}

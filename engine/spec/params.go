package spec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// FromValue converts a YAML value (a default or a --params-file entry) to the
// param's type and checks its enum.
func (p *Param) FromValue(v *Value) (any, error) {
	var out any
	switch p.Type {
	case TypeList:
		switch v.Kind {
		case List:
			items := make([]string, 0, len(v.List))
			for _, x := range v.List {
				if x.Kind != Scalar {
					return nil, fmt.Errorf("list items must be strings, not %s", x.TypeName())
				}
				items = append(items, x.Str)
			}
			out = items
		case Scalar:
			out = []string{v.Str}
		case Null:
			out = []string{}
		default:
			return nil, fmt.Errorf("want a list, got %s", v.TypeName())
		}
	case TypeInt:
		n, ok := v.Int()
		if !ok {
			return nil, fmt.Errorf("want an integer, got %s", quoteVal(v))
		}
		out = n
	case TypeBool:
		b, ok := v.Bool()
		if !ok {
			return nil, fmt.Errorf("want true or false, got %s", quoteVal(v))
		}
		out = b
	default:
		if v.Kind != Scalar {
			return nil, fmt.Errorf("want a string, got %s", v.TypeName())
		}
		out = v.Str
	}
	return out, p.checkEnum(out)
}

// FromString converts a --set value to the param's type. A list param takes
// one item per call, or a YAML flow list such as [a.py, "b c.py"].
func (p *Param) FromString(s string) (any, error) {
	var out any
	switch p.Type {
	case TypeInt:
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return nil, fmt.Errorf("want an integer, got %q", s)
		}
		out = n
	case TypeBool:
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "yes", "1", "on":
			out = true
		case "false", "no", "0", "off":
			out = false
		default:
			return nil, fmt.Errorf("want true or false, got %q", s)
		}
	case TypeList:
		t := strings.TrimSpace(s)
		if strings.HasPrefix(t, "[") {
			src := NewSource("--set "+p.Name, []byte(t))
			v, errs := parseYAML(src, []byte(t))
			if len(errs) > 0 || v == nil {
				return nil, fmt.Errorf("bad list %q: write it as [a, \"b c\"]", s)
			}
			return p.FromValue(v)
		}
		out = []string{s}
	default:
		out = s
	}
	return out, p.checkEnum(out)
}

func (p *Param) checkEnum(v any) error {
	if len(p.Enum) == 0 {
		return nil
	}
	check := func(s string) error {
		if !slices.Contains(p.Enum, s) {
			return fmt.Errorf("%q is not one of %s%s", s, strings.Join(p.Enum, ", "), Hint(s, p.Enum))
		}
		return nil
	}
	switch x := v.(type) {
	case []string:
		for _, s := range x {
			if err := check(s); err != nil {
				return err
			}
		}
		return nil
	default:
		return check(fmt.Sprint(x))
	}
}

// ParamsFile decodes a --params-file: a YAML map of param name to value.
func ParamsFile(file string, text []byte) (map[string]*Value, error) {
	src := NewSource(file, text)
	root, errs := parseYAML(src, text)
	if len(errs) > 0 {
		return nil, errs
	}
	if root == nil {
		return map[string]*Value{}, nil
	}
	if root.Kind != Map {
		return nil, ErrorList{src.Errorf(root.Pos, "", "a params file must be a map of name: value, not %s", root.TypeName())}
	}
	out := make(map[string]*Value, len(root.Map))
	for _, e := range root.Map {
		out[e.Key] = e.Value
	}
	return out, nil
}

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
		if p.Items != nil {
			return p.records(v)
		}
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
		if p.Items != nil && !strings.HasPrefix(t, "[") && !strings.HasPrefix(t, "{") {
			return nil, fmt.Errorf("bad item %q: write one as %s, or the whole list as [%s, ...]", s, p.itemExample(), p.itemExample())
		}
		if strings.HasPrefix(t, "[") || p.Items != nil {
			src := NewSource("--set "+p.Name, []byte(t))
			v, errs := parseYAML(src, []byte(t))
			if len(errs) > 0 || v == nil {
				if p.Items != nil {
					return nil, fmt.Errorf("bad list %q: write it as [%s, ...]", s, p.itemExample())
				}
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

// records converts a list of records: each item a map of the declared
// fields, each value of its field's type.
func (p *Param) records(v *Value) (any, error) {
	var list []*Value
	switch v.Kind {
	case List:
		list = v.List
	case Map:
		list = []*Value{v} // one item, as one --set gives it
	case Null:
	default:
		return nil, fmt.Errorf("want a list of items such as %s, got %s", p.itemExample(), v.TypeName())
	}
	out := make([]map[string]any, 0, len(list))
	for i, x := range list {
		if x.Kind != Map {
			return nil, fmt.Errorf("item %d: want a map such as %s, got %s", i+1, p.itemExample(), x.TypeName())
		}
		item := make(map[string]any, len(p.Items))
		for _, f := range p.Items {
			item[f.Name] = zeroOf(f.Type)
		}
		for _, e := range x.Map {
			f := p.Field(e.Key)
			if f == nil {
				names := make([]string, len(p.Items))
				for j, f := range p.Items {
					names[j] = f.Name
				}
				return nil, fmt.Errorf("item %d: unknown field %q%s (an item has %s)", i+1, e.Key, Hint(e.Key, names), strings.Join(names, ", "))
			}
			val, err := (&Param{Name: p.Name, Type: f.Type}).FromValue(e.Value)
			if err != nil {
				return nil, fmt.Errorf("item %d: %s: %w", i+1, e.Key, err)
			}
			item[e.Key] = val
		}
		out = append(out, item)
	}
	return out, nil
}

// itemExample shows how an item of a list of records is written.
func (p *Param) itemExample() string {
	parts := make([]string, len(p.Items))
	for i, f := range p.Items {
		ex := "..."
		switch f.Type {
		case TypeInt:
			ex = "8000"
		case TypeBool:
			ex = "true"
		}
		parts[i] = f.Name + ": " + ex
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// zeroOf is the value of a field or param of type t that is not given.
func zeroOf(t string) any {
	switch t {
	case TypeInt:
		return 0
	case TypeBool:
		return false
	case TypeList:
		return []string{}
	}
	return ""
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

package engine

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rbflow/rbflow/engine/spec"
)

// notKeptKey marks, in the params a store keeps, the place of a secret
// param's value: rbflow never writes a secret to disk (SPEC §4.1). No
// param type is a map, so the marker cannot be mistaken for a value.
const notKeptKey = "rbflow_secret"

func notKept() map[string]any { return map[string]any{notKeptKey: "not kept"} }

func isNotKept(v any) bool {
	m, ok := v.(map[string]any)
	return ok && m[notKeptKey] != nil
}

// keptParams are the params as the store keeps them: the value of each
// secret param replaced by the not-kept marker, and every secret value
// masked in the others (a child's param given a parent's secret).
func keptParams(p *spec.Procedure, params map[string]any, m *Mask) map[string]any {
	out := make(map[string]any, len(params))
	for k, v := range params {
		out[k] = m.Any(v)
	}
	for _, pm := range p.Params {
		if _, ok := params[pm.Name]; ok && pm.Secret {
			out[pm.Name] = notKept()
		}
	}
	return out
}

// readSecret reads a secret param's value from its source: from_env, or
// from_file (relative to dir, ~ for the home folder, one final newline
// dropped).
func readSecret(pm *spec.Param, dir string) (string, error) {
	if pm.FromEnv != "" {
		v, ok := os.LookupEnv(pm.FromEnv)
		if !ok {
			return "", fmt.Errorf("from_env: %s is not set in rbflow's environment", pm.FromEnv)
		}
		return v, nil
	}
	path := pm.FromFile
	if rest, ok := strings.CutPrefix(path, "~/"); ok {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("from_file %s: %w", path, err)
		}
		path = filepath.Join(home, rest)
	} else if !filepath.IsAbs(path) && dir != "" {
		path = filepath.Join(dir, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return "", fmt.Errorf("from_file: cannot read %s: %v", path, err)
	}
	s := string(b)
	s = strings.TrimSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\r")
	return s, nil
}

// secretSources fills in the secret params ResolveParams has no value
// for: from their source when they have one, and otherwise, for a secret
// the run was started with (pending: the store did not keep it), an error
// that says how to give it again. An unset source of a param that is
// neither required nor pending leaves it to its default.
func secretSources(p *spec.Procedure, dir string, out map[string]any, pending map[string]bool) []error {
	var errs []error
	for _, pm := range p.Params {
		if _, ok := out[pm.Name]; ok || !pm.Secret && !pending[pm.Name] {
			continue
		}
		switch {
		case pm.Secret && (pm.FromEnv != "" || pm.FromFile != ""):
			s, err := readSecret(pm, dir)
			if err != nil {
				if pm.Required || pending[pm.Name] {
					errs = append(errs, &ParamError{Param: pm.Name, Msg: err.Error()})
				}
				continue
			}
			v, err := pm.FromString(s)
			if err != nil {
				errs = append(errs, &ParamError{Param: pm.Name, Msg: err.Error()})
				continue
			}
			out[pm.Name] = v
		case pending[pm.Name]:
			errs = append(errs, &ParamError{Param: pm.Name, Msg: fmt.Sprintf(
				"secret, given when the run started; rbflow does not keep secrets: give it again with --set %s=VALUE (or declare from_env or from_file for it)", pm.Name)})
		}
	}
	return errs
}

// SecretValue is one value of a secret param of a run: the param's own
// (Item 0), or the Item-th item of a list (from 1).
type SecretValue struct {
	Param string
	Item  int
	Value string
}

// Secrets returns the values of the run's secret params, the ones Mask
// hides: for what keeps secrets out of places the step log does not
// reach, such as a service's own log and its record in the store.
func (x *Exec) Secrets() []SecretValue {
	var out []SecretValue
	for _, pm := range x.x.plan.Procedure.Params {
		v, ok := x.x.run.Params[pm.Name]
		if !ok || !pm.Secret {
			continue
		}
		item := 0
		switch v.(type) {
		case []string, []any:
			item = 1
		}
		for i, s := range secretStrings(v) {
			if item > 0 {
				item = i + 1
			}
			out = append(out, SecretValue{Param: pm.Name, Item: item, Value: s})
		}
	}
	return out
}

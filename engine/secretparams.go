package engine

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

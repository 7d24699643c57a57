package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/rbflow/rbflow/engine/eval"
)

// exec prepares what the action of st sees, as the step id (or, for one
// item of a step with for_each, the item's id): its working directory and its
// environment (the process's, the procedure's and the step's env, the
// params as RBFLOW_PARAM_<NAME>, and the run's own RBFLOW_* variables).
func (x *execution) exec(ctx context.Context, st *Step, id string, env *eval.Env) (*Exec, error) {
	dir := x.base
	if st.Dir != nil {
		d, err := st.Dir.Render(env)
		if err != nil {
			return nil, fmt.Errorf("dir: %w", err)
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(x.base, d)
		}
		dir = d
		if !x.dry {
			if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("dir %s does not exist", dir)
			}
		}
	}
	vars := map[string]string{}
	for k, v := range x.env {
		vars[k] = v
	}
	for _, e := range st.Env {
		v, err := e.Value.Render(env)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		vars[e.Name] = v
	}
	for _, pm := range x.plan.Procedure.Params {
		vars["RBFLOW_PARAM_"+strings.ToUpper(pm.Name)] = paramEnv(x.run.Params[pm.Name])
	}
	out := filepath.Join(x.runDir, id+".out")
	vars["RBFLOW_RUN_ID"] = x.run.ID
	vars["RBFLOW_RUN_DIR"] = x.runDir
	vars["RBFLOW_STEP"] = id
	vars["RBFLOW_OUTPUT"] = out
	vars["RBFLOW_REPO"] = x.r.Repo
	envList := os.Environ()
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		envList = append(envList, k+"="+vars[k])
	}
	store := x.r.Store
	if x.dry || store == nil {
		store = dryStore{}
	}
	return &Exec{
		RunID: x.run.ID, StepID: id, Procedure: x.run.Procedure, SourcePath: x.run.SourcePath,
		Repo: x.r.Repo, Dir: dir, RunDir: x.runDir, Env: envList, Grace: x.r.grace(),
		OutputFile: out, Resumed: x.resumed[st.ID] || x.resumed[id],
		env: env, mask: x.mask, store: store, x: x,
	}, nil
}

// paramEnv is a param's value as an environment variable: a list one item
// per line.
func paramEnv(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case []string:
		return strings.Join(x, "\n")
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, "\n")
	case []map[string]any:
		// A list of records: one JSON object per line.
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = eval.Text(e)
		}
		return strings.Join(parts, "\n")
	}
	return fmt.Sprint(v)
}

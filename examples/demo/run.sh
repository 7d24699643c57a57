#!/usr/bin/env bash
# The quick-start demo: a throwaway repository shaped like the seed's project
# with a broken sprint, triaged and rolled back by rbflow — non-interactively
# and offline — then verified, undone and cleaned up.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/bin/rbflow"
if [ ! -x "$bin" ]; then
  (cd "$root" && CGO_ENABLED=1 go build -o bin/rbflow ./cmd/rbflow)
fi
rb() { echo; echo "\$ rbflow $*"; "$bin" "$@"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

work=$(mktemp -d "${TMPDIR:-/tmp}/rbflow-demo.XXXXXX")
repo="$work/shop"
"$root/examples/demo/make-repo.sh" "$repo"
cd "$repo"
echo "== A repository on the failed branch $(git branch --show-current), with work that a careless rollback would lose:"
git status --short --ignored

backend_port=$(free_port)
frontend_port=$(free_port)
frontend=()
if command -v node >/dev/null 2>&1; then
  frontend=(--set "frontend_start=node src/server.js" --set "frontend_port=$frontend_port")
fi

# The on-call engineer's answers to the pre-rollback checklist, given up
# front (on a terminal, triage asks).
rb run triage \
  --set production_down=yes --set data_at_risk=no --set major_broken=yes --set tests_failing=yes \
  --set perf_degraded=no --set users_affected=yes --set fixable_in_30m=no \
  --set reason="discount refactor broke checkout" \
  --set "backend_start=python3 -m app.server" --set "backend_port=$backend_port" "${frontend[@]}" \
  --set "test_command=python3 -m unittest discover -s tests -t . -q" --set test_dir=backend
triage_run=$("$bin" runs --json | head -1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

echo
echo "== The services answer:"
python3 - "$backend_port" <<'PY'
import sys, urllib.request
print("backend:", urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/health", timeout=5).read().decode().strip())
PY
echo "== The work tree is the baseline again:"
git status --short --ignored
git log --oneline -1

rb status "$triage_run"
rb snapshots
rb checklist "$triage_run"
rb metrics

echo
echo "== Nothing was lost: undo brings back the failed branch with its uncommitted and untracked work (and .env)."
rb run "$root/examples/demo/stop-services.yaml" -q
rb undo "$triage_run" -q
git status --short --ignored
git branch --show-current

echo
echo "The demo repository stays in $repo (its rbflow state in $repo/.git/rbflow); remove it with: rm -rf '$work'"

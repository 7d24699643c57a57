#!/usr/bin/env bash
# The quick-start demo: a throwaway repository with a broken sprint, rolled
# back by rbflow, non-interactively and offline.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin="$root/bin/rbflow"
if [ ! -x "$bin" ]; then
  (cd "$root" && CGO_ENABLED=1 go build -o bin/rbflow ./cmd/rbflow)
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/rbflow-demo.XXXXXX")
repo="$work/shop"
"$root/examples/demo/make-repo.sh" "$repo"
echo "== demo repository: $repo (on $(git -C "$repo" branch --show-current), with uncommitted and untracked work)"
git -C "$repo" status --short
echo
echo "== rbflow run sprint-rollback.yaml --set sprint=3"
cd "$repo"
"$bin" run "$root/examples/demo/sprint-rollback.yaml" --set sprint=3
echo
echo "== rbflow status"
"$bin" status
echo
echo "== where the work went"
git log --oneline --all --graph | head -20
echo
echo "The demo repository stays in $repo; remove it with: rm -rf '$work'"

#!/usr/bin/env bash
# Builds a throwaway repository shaped like the seed's project: a backend with
# requirements.txt and tests, a frontend with package.json, a `baseline`
# branch, and a failed sprint branch with broken tests, uncommitted edits and
# untracked work. Usage: make-repo.sh DIR
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
git init -q -b baseline .
git config user.name "Demo Developer"
git config user.email "demo@example.invalid"

mkdir -p backend/app backend/tests/unit frontend/src
cat > backend/requirements.txt <<'REQ'
# no third-party packages: the demo runs offline
REQ
cat > backend/app/__init__.py <<'PY'
PY
cat > backend/app/pricing.py <<'PY'
def total(prices, discount=0.0):
    """Sum of prices after a fractional discount."""
    return round(sum(prices) * (1 - discount), 2)
PY
cat > backend/tests/__init__.py <<'PY'
PY
cat > backend/tests/unit/__init__.py <<'PY'
PY
cat > backend/tests/unit/test_pricing.py <<'PY'
import unittest
from app.pricing import total

class TotalTest(unittest.TestCase):
    def test_sum(self):
        self.assertEqual(total([1.0, 2.5]), 3.5)

    def test_discount(self):
        self.assertEqual(total([10.0], discount=0.1), 9.0)

if __name__ == "__main__":
    unittest.main()
PY
cat > backend/pytest.ini <<'INI'
[pytest]
pythonpath = .
INI
cat > backend/app/server.py <<'PY'
"""A tiny stand-in for the backend: serves /health on $PORT (default 8000)."""
import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n" if self.path == "/health" else b"pricing service\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    port = int(os.environ.get("PORT", "8000"))
    print(f"backend listening on 127.0.0.1:{port}", flush=True)
    http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
PY
cat > frontend/package.json <<'JSON'
{ "name": "demo-frontend", "version": "1.0.0", "private": true,
  "scripts": { "dev": "node src/server.js", "test": "node src/server.test.js" } }
JSON
cat > frontend/src/server.js <<'JS'
// A tiny stand-in for the frontend dev server: listens on $PORT (default 5173).
const http = require("http");
const port = Number(process.env.PORT || 5173);
http.createServer((req, res) => res.end("frontend\n")).listen(port, "127.0.0.1", () => {
  console.log(`frontend listening on 127.0.0.1:${port}`);
});
JS
cat > frontend/src/server.test.js <<'JS'
console.log("1..1\nok 1 - frontend builds");
JS
printf '.env\nnode_modules/\n__pycache__/\n' > .gitignore
git add -A
git commit -q -m "Baseline: pricing service and frontend"

# Sprint 3: a refactor that breaks the discount.
git switch -q -c refactor/sprint-3
cat > backend/app/pricing.py <<'PY'
def total(prices, discount=0.0):
    """Sum of prices after a discount (refactored: now in percent)."""
    return round(sum(prices) * (1 - discount / 100), 2)
PY
git commit -q -am "Sprint 3: discounts in percent"
cat > backend/app/tax.py <<'PY'
def with_tax(amount, rate):
    return amount * (1 + rate)
PY
git add backend/app/tax.py
git commit -q -m "Sprint 3: tax helper"

# Work in progress that a careless rollback would lose.
echo "# TODO: migrate callers to percent discounts" >> backend/app/pricing.py
echo "def notes(): return 'untracked work in progress'" > backend/app/notes.py
echo "API_KEY=demo-not-a-secret" > .env

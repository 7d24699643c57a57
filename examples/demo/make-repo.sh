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
cat > frontend/package.json <<'JSON'
{ "name": "demo-frontend", "version": "1.0.0", "private": true, "scripts": { "dev": "node src/server.js" } }
JSON
cat > frontend/src/server.js <<'JS'
console.log("frontend ready");
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

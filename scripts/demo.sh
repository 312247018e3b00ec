#!/usr/bin/env bash
# Set up (idempotent), build the credit-scoring example if absent, and audit it with its policy
# (examples/credit-scoring/policy.yaml: the built-in eu-ai-act-high-risk policy, tabular checks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python examples/credit-scoring/build.py
status=0
.venv/bin/auditor run --policy examples/credit-scoring/policy.yaml \
  --card examples/credit-scoring/README.md \
  --data examples/credit-scoring/data/eval.csv \
  --out reports/ || status=$?
echo "audit finished with exit code $status (0 pass/warn, 1 blocking failure); reports are under reports/"
exit $status

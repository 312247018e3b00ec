#!/usr/bin/env bash
# Set up (idempotent), build the credit-scoring example if absent (or built by another version of its build.py), and audit it with its policy
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
case $status in
  0) meaning="no blocking failure (overall PASS, WARN, WAIVED or INFO)" ;;
  1) meaning="an unwaived blocking failure or a check in ERROR (overall FAIL or ERROR)" ;;
  *) meaning="the audit did not complete; see the message above" ;;
esac
echo "audit finished with exit code $status: $meaning; reports are under reports/"
exit $status

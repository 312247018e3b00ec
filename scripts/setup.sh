#!/usr/bin/env bash
# Set up everything auditor needs on a fresh Debian/Ubuntu machine with Python 3.11:
# the system libraries WeasyPrint needs (Pango, HarfBuzz subset, fonts), then a virtual
# environment in .venv with torch installed first at the version constraints.txt pins (the CPU build
# where pip's configuration finds it, or from AUDITOR_TORCH_INDEX_URL when set).
set -euo pipefail
cd "$(dirname "$0")/.."

SYSTEM_PACKAGES=(libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fontconfig fonts-dejavu-core
  fonts-symbola fonts-noto-cjk  # emoji and CJK in reviewed texts: DejaVu has neither, the PDF would show boxes
  chromium chromium-driver)  # the last two: headless browser tests of `auditor serve` (tests/web)
missing=()
for pkg in "${SYSTEM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip -q --disable-pip-version-check)
"${PIP[@]}" install --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
# torch first, at the version constraints.txt pins: which build comes (CPU or CUDA) is which wheel pip finds, and
# plain PyPI's Linux torch is a multi-gigabyte CUDA build; AUDITOR_TORCH_INDEX_URL is this step's --index-url.
TORCH_INDEX=(); [ -z "${AUDITOR_TORCH_INDEX_URL:-}" ] || TORCH_INDEX=(--index-url "$AUDITOR_TORCH_INDEX_URL")  # e.g. https://download.pytorch.org/whl/cpu
"${PIP[@]}" install ${TORCH_INDEX[@]+"${TORCH_INDEX[@]}"} -c constraints.txt "torch==2.13.0" 2>&1 | grep -v "^WARNING: Location" || true
"${PIP[@]}" install -c constraints.txt -e ".[text,examples,dev]" 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import auditor, weasyprint, torch, transformers" \
  || { echo "setup failed: auditor's dependencies did not import" >&2; exit 1; }
echo "environment ready: .venv"

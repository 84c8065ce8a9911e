#!/usr/bin/env bash
# Tempest in its own venv (.venv-tempest): its pins (conformance/requirements.txt, tempest and
# every dependency) conflict with nothing of the project's because they never share a venv.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-tempest
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q -r conformance/requirements.txt
touch "$VENV/.installed"

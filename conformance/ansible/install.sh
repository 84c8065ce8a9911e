#!/usr/bin/env bash
# Ansible (the `ansible` package, which bundles the openstack.cloud collection) and openstacksdk
# in their own venv (.venv-ansible), every dependency pinned (conformance/ansible/requirements.txt).
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=.venv-ansible
if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
"$VENV/bin/pip" install -q -r conformance/ansible/requirements.txt
touch "$VENV/.installed"

#!/usr/bin/env bash
# Installs whatever is missing on a fresh Debian machine: system packages, then the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="qemu-system-x86 qemu-utils openssh-server openssh-client busybox-static iproute2 cpio xz-utils genisoimage python3 rabbitmq-server postgresql sudo dnsmasq-base nftables"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  echo "installing system packages:$missing"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q -e '.[test]'
touch .venv/.installed

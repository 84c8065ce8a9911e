#!/usr/bin/env bash
# `make run`: the local lab (real sshd + qemu hosts on this machine), the cloud, the tiny
# guest image, then the app on top of it all (which also serves the REST API).
set -euo pipefail
cd "$(dirname "$0")/.."
PS=.venv/bin/pocketstack
export POCKETSTACK_HOME="${POCKETSTACK_HOME:-$HOME/.local/share/pocketstack}"
mkdir -p "$POCKETSTACK_HOME" && chmod 700 "$POCKETSTACK_HOME"
# The admin password: $OS_PASSWORD, else one made once and kept (0600) in the state directory.
pwfile="$POCKETSTACK_HOME/admin-password"
if [ -z "${OS_PASSWORD:-}" ]; then
  if [ ! -s "$pwfile" ]; then
    (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$pwfile")
  fi
  OS_PASSWORD=$(cat "$pwfile")
fi
export OS_PASSWORD  # read by init and build-tiny from the environment, never from argv
export OS_USERNAME="${OS_USERNAME:-admin}"  # the app's login form starts with it
$PS lab up --hosts 2
$PS init
$PS image build-tiny
echo
echo "admin password: in $pwfile (or your \$OS_PASSWORD)"
echo "REST API: http://127.0.0.1:8774 — in another shell:"
echo "  export OS_AUTH_URL=http://127.0.0.1:8774/identity/v3 OS_USERNAME=admin OS_PROJECT_NAME=admin \\"
echo "         OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default OS_PASSWORD=\$(cat $pwfile)"
echo "  pocketstack server list    # or: openstack server list"
echo
exec $PS "$@"

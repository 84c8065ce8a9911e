"""The privileged helper: a fixed command set for host network plumbing (Neutron's
rootwrap/privsep idea). Standard library only, imports nothing from the backend: the
directory is copied as is to every host and run as `python3 -I <dir> <command> <args...>`
through sudo. Every module exposes COMMANDS: {name: callable(args) -> exit code}."""

# where hosts have it (`lab up` installs it there; docs/real-compute.md for real hosts), and
# the one command line the SSH user may run through sudo
INSTALL_DIR = "/usr/local/lib/pocketstack/privileged"
SUDO_ARGV = ["sudo", "-n", "/usr/bin/python3", "-I", INSTALL_DIR]

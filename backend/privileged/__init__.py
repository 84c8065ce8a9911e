"""The privileged helper: a fixed command set for host network plumbing (Neutron's
rootwrap/privsep idea). Standard library only, imports nothing from the backend: the
directory is copied as is to every host and run as `python3 -I <dir> <command> <args...>`
through sudo. Every module exposes COMMANDS: {name: callable(args) -> exit code}."""

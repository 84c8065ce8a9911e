"""Privileged commands (L3: routers in qrouter- namespaces, SNAT/DNAT)."""
COMMANDS: dict = {}

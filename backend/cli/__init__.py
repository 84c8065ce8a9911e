"""The `pocketstack` command line (backend/cli/main.py)."""

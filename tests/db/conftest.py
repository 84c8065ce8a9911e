"""The database layer's tests: both engines (tests/dbhelp.py starts the PostgreSQL cluster)."""

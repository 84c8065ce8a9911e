# The two commands. Both install what is missing first (system packages, .venv).
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test setup bench

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

setup: $(STAMP)

run: $(STAMP)
	bash scripts/run.sh

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python bench/control_plane.py

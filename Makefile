# The two commands. Both install what is missing first (system packages, .venv).
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: run test setup bench conformance

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

setup: $(STAMP)

run: $(STAMP)
	bash scripts/run.sh

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python bench/control_plane.py

# Tempest (pinned, in .venv-tempest) against a throwaway serve on fake hosts: the in-scope groups
TEMPEST_STAMP := .venv-tempest/.installed

$(TEMPEST_STAMP): conformance/requirements.txt conformance/install.sh
	bash conformance/install.sh

conformance: $(STAMP) $(TEMPEST_STAMP)
	$(VENV)/bin/python -m conformance.run

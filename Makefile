# The two commands. Both install what is missing first (system packages, .venv).
VENV := .venv
STAMP := $(VENV)/.installed
ANSIBLE_STAMP := .venv-ansible/.installed

.PHONY: run test setup bench conformance conformance-ansible

$(STAMP): pyproject.toml scripts/setup.sh
	bash scripts/setup.sh

setup: $(STAMP)

run: $(STAMP)
	bash scripts/run.sh

test: $(STAMP) $(ANSIBLE_STAMP)
	$(VENV)/bin/python -m pytest -q

bench: $(STAMP)
	$(VENV)/bin/python bench/control_plane.py

# Tempest (pinned, in .venv-tempest) against a throwaway serve on fake hosts: the in-scope groups
TEMPEST_STAMP := .venv-tempest/.installed

$(TEMPEST_STAMP): conformance/requirements.txt conformance/install.sh
	bash conformance/install.sh

conformance: $(STAMP) $(TEMPEST_STAMP)
	$(VENV)/bin/python -m conformance.run

# Ansible's openstack.cloud collection (pinned, in .venv-ansible): every playbook of
# conformance/ansible/ creates, re-runs unchanged and tears down against a throwaway serve

$(ANSIBLE_STAMP): conformance/ansible/requirements.txt conformance/ansible/install.sh
	bash conformance/ansible/install.sh

conformance-ansible: $(STAMP) $(ANSIBLE_STAMP)
	$(VENV)/bin/python -m conformance.ansible.run

# The two commands: `make demo` and `make test`. Both set up what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: bootstrap demo demo-headless test lint bench clean

bootstrap:
	@VENV=$(VENV) scripts/bootstrap.sh

demo: bootstrap
	$(VENV)/bin/vuoro demo

demo-headless: bootstrap
	$(VENV)/bin/vuoro demo --headless

test: bootstrap
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -q -p no:cacheprovider

bench: bootstrap
	$(VENV)/bin/vuoro bench calls --json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis

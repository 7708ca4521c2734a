# The two commands the README opens with: `make quickstart` and `make test`.
# Both create (or reuse, in seconds) the environment in .venv first.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: env test quickstart
env:
	@bash tools/install_env.sh

test: env
	$(PY) -m pytest tests $(PYTEST_ARGS)

quickstart: env
	$(PY) tools/quickstart.py

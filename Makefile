# Each target creates or updates .venv itself, so `make demo` or `make test` is the only command a new
# machine needs (Python >= 3.10 with venv and pip).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test bench bench-scale docs clean

# `pip uninstall lakehouse` first: the distribution was once named `lakehouse` (now `lakehouse-delta`), and
# the index's unrelated `lakehouse` would shadow the `lakehouse` import package; neither may stay in .venv.
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip uninstall -q -y lakehouse 2>/dev/null || true
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.dev: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip uninstall -q -y lakehouse 2>/dev/null || true
	$(PY) -m pip install -q -e ".[dev]"
	touch $(VENV)/.runtime $@

demo: $(VENV)/.runtime
	$(PY) -m lakehouse.demo
	$(VENV)/bin/lakehouse optimize demo-table
	$(VENV)/bin/lakehouse vacuum demo-table --retention-hours 0 --no-enforce-retention

# Static types first (mypy, configured in pyproject.toml; incremental through .mypy_cache), then the tests.
test: $(VENV)/.dev
	$(PY) -m mypy
	$(PY) -m pytest -q

# The suite at its default sizes (about 15 minutes on 2 cores once the tables exist; the first run also
# generates them), then the chart docs/img/benchmarks.svg. BENCH_ARGS passes options through, e.g.
# `make bench BENCH_ARGS="--only bulk_write,merge_upsert"` or `make bench BENCH_ARGS="--rows 1000000"`;
# `make bench-scale` runs the scale curves (1M/5M/20M rows, 1k/10k/100k files) and their chart.
BENCH_ARGS ?=
bench: $(VENV)/.dev
	$(PY) -m benchmarks --chart $(BENCH_ARGS)

bench-scale: $(VENV)/.dev
	$(PY) -m benchmarks.scale --chart $(BENCH_ARGS)

# The guide is Markdown read on the forge (no site generator: mkdocs is not a dependency). `make docs` runs
# every example of README.md and docs/ as written and checks every relative link (tests/docs/).
docs: $(VENV)/.dev
	$(PY) -m pytest -q -p no:cacheprovider tests/docs

clean:
	rm -rf $(VENV) benchmarks/data .pytest_cache .hypothesis .mypy_cache

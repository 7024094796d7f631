# neardup: `make demo` runs a scan on the bundled samples; `make test` runs the test suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-8)
DEMO   := build/demo

.PHONY: install demo test redis bench-quality bench-throughput bench-index clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@echo "make: installing neardup with its test and benchmark extras into $(VENV) (TensorFlow: about 2.6 GB)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	rm -f $(VENV)/.installed-*; touch $@

# Redis for the queue tests: use the one that answers, else start one (installing it if need be);
# Debian's docker-compose validates docker-compose.yml without an engine.
redis:
	@scripts/ensure-redis
	@command -v docker-compose >/dev/null || { echo "make: installing Debian's docker-compose" \
		"(tests/test_compose.py checks docker-compose.yml with it; no engine needed)"; scripts/apt-install docker-compose; }

demo: install
	rm -rf $(DEMO)
	$(PY) samples/make_samples.py $(DEMO)/images
	NEARDUP_DATA_DIR=$(DEMO)/data $(VENV)/bin/neardup scan $(DEMO)/images --out $(DEMO)/out --neighbors 5
	@echo "report: $(DEMO)/out/report.html"

test: install redis
	$(PY) -m pytest -q $(PYTEST_ARGS)

bench-quality: install
	$(PY) bench/quality.py

bench-throughput: install
	$(PY) bench/throughput.py

bench-index: install
	$(PY) bench/index_scale.py

clean:
	rm -rf build .pytest_cache

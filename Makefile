# neardup: `make demo` runs a scan on the bundled samples; `make test` runs the test suite.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-8)
DEMO   := build/demo

.PHONY: install demo test redis lock bench-quality bench-throughput bench-index clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@echo "make: installing neardup with its test and benchmark extras into $(VENV) (TensorFlow: about 2.6 GB)"
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# setuptools notes that a mapped editable install imports through a hook: information, not a fault
	PYTHONWARNINGS="ignore:Editable installation:UserWarning" $(PY) -m pip install -q -e '.[test,bench]'
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

# requirements.lock: every package of the worker image (Python 3.11, x86-64 Linux) pinned with its hashes
lock: install
	$(PY) -m pip install -q uv==0.13.9
	$(VENV)/bin/uv pip compile pyproject.toml --extra postgres --extra monitor --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header -o requirements.lock

bench-quality: install
	$(PY) bench/quality.py

bench-throughput: install
	$(PY) bench/throughput.py --n 300 --report

bench-index: install
	$(PY) bench/index_scale.py

clean:
	rm -rf build .pytest_cache

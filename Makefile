# Two commands do all the set-up (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# torch and torchvision must come from one pip command (FACTS §8); ray/mlflow in the same resolve.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

.PHONY: install install-test demo test bench clean

# Debian's Chromium serves tests/test_dashboards_browser.py (playwright is only the pip package: no browser download).
$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_PINS) -e '.[test]'
	command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium) \
		|| echo "warning: chromium not installed: tests/test_dashboards_browser.py will be skipped"
	touch $@

install: $(VENV)/.installed

# Until `s2hand demo` (the full pipeline) lands, the main job is the hand model + renderer showcase.
demo: install
	$(VENV)/bin/s2hand hand showcase --out outputs/showcase
	$(VENV)/bin/s2hand hand export --pose point --out outputs/showcase/point.ply --png outputs/showcase/point.png

test: install
	$(VENV)/bin/pytest -q

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b; done

clean:
	rm -rf $(VENV) build *.egg-info

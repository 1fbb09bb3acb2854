# Each target creates .venv on first use. torch is pinned to the CPU wheel for this set-up;
# GPU users install their own CUDA torch first and `pip install -e .` keeps it (torch>=2.4).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[test,ray]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/recscale demo

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15

bench: $(STAMP)
	$(PY) benchmarks/train_throughput.py

clean:
	rm -rf $(VENV) runs reports

# The README's two commands: `make demo` (main job: baseline vs ARW on the toy corpus) and `make test` (test suite).
# `make study` runs the multi-seed toy study (about 75 minutes on 2 cores); `make audit` audits the shipped sample score file.
# Both create .venv and install the pinned CPU stack on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.arwsv-installed

.PHONY: install demo study audit test bench clean

install: $(STAMP)

$(STAMP): requirements/cpu.txt setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/cpu.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/arwsv demo

study: $(STAMP)
	$(BIN)/arwsv study

audit: $(STAMP)
	$(BIN)/arwsv eval arwsv/resources/sample_scores.txt --meta arwsv/resources/sample_meta.csv --intersect \
		--bootstrap 200 --seed 0 --json results/sample_eval/report.json --plot results/sample_eval/det.png

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_eval.py

clean:
	rm -rf $(VENV) build *.egg-info

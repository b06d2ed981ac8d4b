# The README's two commands: `make demo` (main job) and `make test` (test suite).
# Other targets are named after what they run: `make eval-sample` (arwsv eval on the shipped sample score file),
# `make toy-study` (arwsv study, the multi-seed toy study, ~75 min on 2 cores), `make bench-study` (arwsv study
# --bench, the headline study on the benchmark corpus, hours; resumable), `make select-study` (arwsv study
# --select: the label-free selection on the benchmark and the untuned corpora; resumable), `make benchmarks`.
# Each creates .venv and installs the pinned CPU stack on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.arwsv-installed

.PHONY: install demo toy-study bench-study select-study eval-sample test benchmarks clean

install: $(STAMP)

$(STAMP): requirements/cpu.txt setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements/cpu.txt -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/arwsv demo

toy-study: $(STAMP)
	$(BIN)/arwsv study

bench-study: $(STAMP)
	$(BIN)/arwsv prepare toy --preset bench --out data/bench
	$(BIN)/arwsv study --bench --data data/bench

select-study: $(STAMP)
	$(BIN)/arwsv study --select

eval-sample: $(STAMP)
	$(BIN)/arwsv eval arwsv/resources/sample_scores.txt --meta arwsv/resources/sample_meta.csv --intersect \
		--bootstrap 200 --seed 0 --json results/sample_eval/report.json --plot results/sample_eval/det.png

test: $(STAMP)
	$(BIN)/python -m pytest -q

benchmarks: $(STAMP)
	$(BIN)/python benchmarks/bench_eval.py
	$(BIN)/python benchmarks/bench_cli_startup.py

clean:
	rm -rf $(VENV) build *.egg-info

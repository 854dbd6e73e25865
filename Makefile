# The README's two commands: `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean gallery library-bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/edgecase check scenarios/
	$(BIN)/edgecase plan scenarios/occluded_child_dartout.yaml --seed 7 --summary
	$(BIN)/edgecase run scenarios/occluded_child_dartout.yaml --seed 7 --out out/demo --force
	$(BIN)/edgecase replay out/demo --video out/demo.mp4 --html

lint: $(STAMP)
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	mkdir -p bench-results
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b --out bench-results || exit 1; done
	@echo "benchmark JSON in bench-results/"

gallery: $(STAMP)  # docs/gallery.md + docs/gallery/*.jpg: every library scenario at its critical moment
	$(BIN)/python tools/make_gallery.py --scenarios scenarios --out docs

library-bench: $(STAMP)  # bench-results/library.json + the table in docs/library.md (several minutes)
	mkdir -p bench-results
	$(BIN)/python benchmarks/bench_library.py --out bench-results

clean:
	rm -rf $(VENV) bench-results

reliability: $(STAMP)  # docs/reliability.md: path, fault and load tests with their figures (reads bench-results/{fuzz,load}.json)
	$(BIN)/python tools/reliability_report.py --results bench-results --out docs/reliability.md
.PHONY: reliability

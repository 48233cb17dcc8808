# The two set-up commands: `make run` and `make test`. Everything else is a convenience.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: run test lint fmt bench eval soak fuzz lab notebooks clean db-stop install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,notebooks]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP)

run: $(STAMP)  ## serve the API on the embedded database, with demo data when the graph is empty
	$(BIN)/vendr serve --demo

# two pytest workers, each with its own embedded database: the suite waits on I/O as much as
# it computes (7 minutes instead of 12 here); TEST_WORKERS=0 runs it in one process, as it
# does against Neo4j, whose one database the workers would share
TEST_WORKERS ?= $(if $(NEO4J_URI),0,2)

# the fuzz tests run after the rest, in one process, in order against one server: with the
# seed fixed in pyproject.toml, every run draws the same and meets the same state
test: $(STAMP) $(NODE_STAMP)  ## the whole suite against a real embedded FalkorDB
	$(BIN)/pytest -q -n $(TEST_WORKERS) -m "not fuzz"
	$(BIN)/pytest -q -p no:xdist -m fuzz

bench: $(STAMP)  ## benchmarks at 10k users / 100k listings / 1M interactions; reports in bench/
	$(BIN)/python -m bench.catalog
	$(BIN)/python -m bench.realtime
	$(BIN)/python -m bench.deals
	$(BIN)/python -m bench.searches
	$(BIN)/python -m bench.trust scale

eval: $(STAMP)  ## offline evaluation: the feed against baselines, trust on planted sybil rings
	$(BIN)/python -m bench.eval
	$(BIN)/python -m bench.trust eval

soak: $(STAMP)  ## crash loop: orders, the database killed -9, restart; report in bench/crash.md
	$(BIN)/python -m bench.crash --cycles 20

# a new seed each run (VENDR_FUZZ_SEED=N repeats one); what fails is saved in tests/examples/,
# which `make test` replays first: commit it with the fix
fuzz: $(STAMP)  ## the contract and the property tests explored at length, with a new seed
	@seed=$${VENDR_FUZZ_SEED:-$$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}; \
	echo "fuzz seed $$seed (VENDR_FUZZ_SEED=$$seed make fuzz repeats this run)"; \
	VENDR_HYPOTHESIS_PROFILE=fuzz VENDR_FUZZ_EXAMPLES=$${VENDR_FUZZ_EXAMPLES:-200} \
	$(BIN)/pytest -q -p no:xdist -m "fuzz or hypothesis" \
		--hypothesis-seed=$$seed

lab: $(STAMP)  ## JupyterLab on notebooks/ against the embedded database (demo data if empty)
	$(BIN)/vendr lab

notebooks: $(STAMP)  ## execute every notebook; outputs and HTML reports in var/notebooks/
	$(BIN)/vendr notebooks run --demo --out var/notebooks

lint: $(STAMP)
	$(BIN)/ruff check graph api seeds tests bench
	$(BIN)/ruff format --check graph api seeds tests bench
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format graph api seeds tests bench
	$(BIN)/ruff check --fix graph api seeds tests bench

db-stop: $(STAMP)
	$(BIN)/vendr db stop

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache

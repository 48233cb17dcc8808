# The two set-up commands: `make run` and `make test`. Everything else is a convenience.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
# Neo4j Community from Maven Central (pinned in deploy/neo4j/pom.xml) and its launcher
NEO4J_DIR := .neo4j
NEO4J_STAMP := $(NEO4J_DIR)/.installed
# S3Proxy, an S3-compatible server, from Maven Central (pinned in deploy/s3proxy/pom.xml): the
# object-storage tests start one (graph/infra/s3proxy_local.py)
S3PROXY_DIR := .s3proxy
S3PROXY_STAMP := $(S3PROXY_DIR)/.installed
# the GraphQL client generator the contract test drives (a venv of its own: see pyproject)
CODEGEN := .codegen
CODEGEN_STAMP := $(CODEGEN)/.installed
# HAProxy for the several-nodes test and `make scale-demo`: Debian's package unpacked here (no
# root, nothing installed system-wide), unless a `haproxy` is on PATH
HAPROXY_DIR := .haproxy
HAPROXY_STAMP := $(HAPROXY_DIR)/.installed
HAPROXY_DEBS := haproxy liblua5.3-0 libopentracing-c-wrapper0 libopentracing1
# wrk, the HTTP load generator of bench/http.py, the same way: Debian's package and the LuaJIT
# it links (libssl and libc are the system's), unless a `wrk` is on PATH
WRK_DIR := .wrk
WRK_STAMP := $(WRK_DIR)/.installed
WRK_DEBS := wrk libluajit2-5.1-2

.PHONY: run test lint fmt bench eval soak fuzz lab notebooks clean db-stop install neo4j s3proxy
.PHONY: haproxy scale-demo wrk

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,notebooks]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(CODEGEN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(CODEGEN)
	$(CODEGEN)/bin/pip install --quiet --disable-pip-version-check $$($(PYTHON) -c \
	  'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["tool"]["vendr"]["graphql-codegen"]["requires"]))')
	touch $@

$(NEO4J_STAMP): deploy/neo4j/pom.xml deploy/neo4j/VendrNeo4j.java
	rm -rf $(NEO4J_DIR)
	mvn -q -B -f deploy/neo4j/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(abspath $(NEO4J_DIR))/lib
	javac -d $(NEO4J_DIR)/classes -cp '$(NEO4J_DIR)/lib/*' deploy/neo4j/VendrNeo4j.java
	touch $@

$(S3PROXY_STAMP): deploy/s3proxy/pom.xml
	rm -rf $(S3PROXY_DIR)
	mvn -q -B -f deploy/s3proxy/pom.xml dependency:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory=$(abspath $(S3PROXY_DIR))/lib
	touch $@

$(HAPROXY_STAMP):
	rm -rf $(HAPROXY_DIR)
	mkdir -p $(HAPROXY_DIR)/debs
	@if command -v haproxy >/dev/null; then \
	  echo "using $$(command -v haproxy)"; \
	else \
	  cd $(HAPROXY_DIR)/debs && apt-get download $(HAPROXY_DEBS) && cd - >/dev/null && \
	  for deb in $(HAPROXY_DIR)/debs/*.deb; do dpkg -x $$deb $(HAPROXY_DIR)/root || exit 1; done && \
	  LD_LIBRARY_PATH=$(HAPROXY_DIR)/root/usr/lib/x86_64-linux-gnu \
	    $(HAPROXY_DIR)/root/usr/sbin/haproxy -v | head -1; \
	fi
	touch $@

$(WRK_STAMP):
	rm -rf $(WRK_DIR)
	mkdir -p $(WRK_DIR)/debs
	@if command -v wrk >/dev/null; then \
	  echo "using $$(command -v wrk)"; \
	else \
	  cd $(WRK_DIR)/debs && apt-get download $(WRK_DEBS) && cd - >/dev/null && \
	  for deb in $(WRK_DIR)/debs/*.deb; do dpkg -x $$deb $(WRK_DIR)/root || exit 1; done && \
	  LD_LIBRARY_PATH=$(WRK_DIR)/root/usr/lib/x86_64-linux-gnu \
	    $(WRK_DIR)/root/usr/bin/wrk -v | head -1; \
	fi
	touch $@

install: $(STAMP)

neo4j: $(NEO4J_STAMP)  ## Neo4j Community for the tests and `vendr db start --neo4j`

haproxy: $(HAPROXY_STAMP)  ## HAProxy for tests/test_scale.py and `make scale-demo`

wrk: $(WRK_STAMP)  ## wrk (the HTTP load generator of bench/http.py)

s3proxy: $(S3PROXY_STAMP)  ## S3Proxy (an S3-compatible server) for the object-storage tests

# dev mode: the development shortcuts (stand-in social provider, local payment terminal, demo
# data) on loopback, announced at start; a bare `vendr serve` is production and has none
run: $(STAMP)  ## serve the API on the embedded database, with demo data when the graph is empty
	VENDR_ENV=dev $(BIN)/vendr serve --demo

# two pytest workers, each with its own embedded FalkorDB and its own Neo4j (Community has one
# database: a server per worker keeps them apart); TEST_WORKERS=0 runs it in one process.
# The fuzz tests run after the rest, in one process, in order against one server: with the
# seed fixed in pyproject.toml, every run draws the same and meets the same state. The 25
# slowest tests are listed at the end (what to look at when the suite grows slow). A module's
# tests go to one worker (`--dist loadscope`): its servers (module fixtures: two `vendr serve`,
# a replica, a balancer) start once, not once on each worker
TEST_WORKERS ?= 2

test: $(STAMP) $(NEO4J_STAMP) $(S3PROXY_STAMP) $(CODEGEN_STAMP) $(HAPROXY_STAMP) $(WRK_STAMP)  ## the whole suite, on embedded FalkorDB and on Neo4j
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist loadscope -m "not fuzz and not cypherlint" --durations=25
	$(BIN)/pytest -q -p no:xdist -m fuzz

# catalog, learning, deals and trust run on the embedded FalkorDB and on Neo4j (heap and page
# cache 2 GiB each) one after the other in the same run; bench/backends.md puts their headline
# figures side by side; the replay loads the sets once more and replays their logs (8 minutes).
# bench.learning times the feed's fit from the log and decks ranked with it (~10 minutes).
# bench.http drives each route of issue 39 with wrk beside a bare endpoint and profiles the
# costliest with py-spy (bench/http.md, ~9 minutes for both backends). About 75 minutes on 2
# cores, most of it loading 1.1M rows into each backend several times
bench: $(STAMP) $(NEO4J_STAMP) $(HAPROXY_STAMP) $(WRK_STAMP)  ## benchmarks at 10k users / 100k listings / 1M interactions; reports in bench/
	$(BIN)/python -m bench.http --backends falkordb,neo4j
	$(BIN)/python -m bench.catalog
	$(BIN)/python -m bench.learning
	$(BIN)/python -m bench.realtime
	$(BIN)/python -m bench.deals
	$(BIN)/python -m bench.searches
	$(BIN)/python -m bench.replicas
	$(BIN)/python -m bench.graphql
	$(BIN)/python -m bench.trust scale
	$(BIN)/python -m bench.replay
	$(BIN)/python -m bench.restore --neo4j
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.backends

# three `vendr serve` nodes behind HAProxy, a read load, one node killed -9 mid-load: what the
# clients saw and how soon HAProxy stopped sending it traffic, in bench/scale.md (~1 minute)
scale-demo: $(STAMP) $(HAPROXY_STAMP)  ## several API nodes behind HAProxy, one killed under load
	$(BIN)/python -m bench.scale

# the feed (learnt and hand-set blends) against baselines in seven generated marketplaces (~17
# minutes), then trust on planted sybil rings
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
	VENDR_ENV=dev $(BIN)/vendr lab

notebooks: $(STAMP)  ## execute every notebook; outputs and HTML reports in var/notebooks/
	VENDR_ENV=dev $(BIN)/vendr notebooks run --demo --out var/notebooks

# Neo4j's own Cypher linter over every Neo4j statement too (~4 minutes; `make test` plans
# and runs them on a real Neo4j instead)
lint: $(STAMP) $(NODE_STAMP)  ## ruff, mypy and Neo4j's Cypher linter
	$(BIN)/ruff check graph api seeds tests bench
	$(BIN)/ruff format --check graph api seeds tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q -n $(TEST_WORKERS) -m cypherlint

fmt: $(STAMP)
	$(BIN)/ruff format graph api seeds tests bench
	$(BIN)/ruff check --fix graph api seeds tests bench

db-stop: $(STAMP)
	$(BIN)/vendr db stop

clean:
	rm -rf $(VENV) $(CODEGEN) node_modules .pytest_cache .mypy_cache .ruff_cache

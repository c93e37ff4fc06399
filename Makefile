# kefu — two set-up commands: `make demo` and `make test`. The rest are helpers.
SHELL := /bin/bash
CARGO ?= cargo
MODEL_DIR := models/all-MiniLM-L6-v2
MULTILINGUAL_DIR := models/multilingual-e5-small
DEMO_INDEX := data/index
GRPC ?= 127.0.0.1:50051
METRICS ?= 127.0.0.1:9464

.PHONY: help model model-multilingual demo test test-python build release bench bench-peers fuzz lint fmt clean deploy-check

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

model: $(MODEL_DIR)/model.safetensors ## fetch the embedding model into models/ (once)

$(MODEL_DIR)/model.safetensors:
	bash tools/scripts/fetch-model.sh $(MODEL_DIR)

model-multilingual: $(MULTILINGUAL_DIR)/kefu-import.json ## fetch multilingual-e5-small and import it into models/ (once)

$(MULTILINGUAL_DIR)/kefu-import.json:
	CARGO="$(CARGO)" bash tools/scripts/fetch-multilingual.sh $(MULTILINGUAL_DIR)

demo: model-multilingual ## fetch the multilingual model, build the sample KB's index, start kefu-server on 127.0.0.1
	$(CARGO) build --release -p kefu -p kefu-server
	./target/release/kefu build --kb datasets/kb.jsonl --out $(DEMO_INDEX) --model $(MULTILINGUAL_DIR) --embed-cache target/embed-cache
	@bash tools/scripts/demo-banner.sh $(GRPC) $(METRICS)
	./target/release/kefu-server --index $(DEMO_INDEX) --model $(MULTILINGUAL_DIR) \
		--listen $(GRPC) --metrics $(METRICS) --routing-dir data/routing

test: model model-multilingual ## fetch the models if missing, run every test (Rust, then the Python client's)
	$(CARGO) test --workspace
	$(MAKE) --no-print-directory test-python

test-python: model ## the Python client's tests against a real kefu-server, in a throwaway venv under target/
	$(CARGO) build -p kefu -p kefu-server
	bash tools/scripts/test-python.sh

deploy-check: model ## 3 answer replicas + router behind nginx on loopback: kefu-load across a rolling reload, 0 failures
	CARGO="$(CARGO)" bash deploy/check.sh

build: ## debug build of every crate
	$(CARGO) build --workspace --all-targets

release: ## optimised binaries in target/release
	$(CARGO) build --release --workspace

bench: model ## criterion benches: embed, search (builds a 100k synthetic index), route, rank
	$(CARGO) bench -p kefu-bench

PEERS_ARGS ?=

bench-peers: model ## kefu beside onnxruntime, hnswlib, faiss on the same questions and vectors (venv under target/; PEERS_ARGS=--help)
	$(CARGO) build --release -p kefu
	bash tools/scripts/bench-peers.sh $(PEERS_ARGS)

FUZZ_SECS ?= 60
FUZZ_TARGETS := index kb route

fuzz: ## run each cargo-fuzz target for FUZZ_SECS seconds (default 60; needs nightly, installs cargo-fuzz)
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/corpus/$$t; \
		echo "== fuzz target $$t for $(FUZZ_SECS) s"; \
		$(CARGO) +nightly fuzz run -O -a $$t fuzz/corpus/$$t fuzz/seeds/$$t $$(ls -d fuzz/regressions/$$t 2>/dev/null) \
			-- -max_total_time=$(FUZZ_SECS) -timeout=10 -rss_limit_mb=2048 || exit 1; \
	done

lint: ## formatting and clippy, as reviewers expect
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

clean: ## remove build output (keeps models/)
	$(CARGO) clean

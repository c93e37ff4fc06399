# kefu — two set-up commands: `make demo` and `make test`. The rest are helpers.
SHELL := /bin/bash
CARGO ?= cargo
MODEL_DIR := models/all-MiniLM-L6-v2
MULTILINGUAL_DIR := models/multilingual-e5-small
DEMO_INDEX := data/index
GRPC ?= 127.0.0.1:50051
METRICS ?= 127.0.0.1:9464

.PHONY: help model model-multilingual demo test build release bench lint fmt clean deploy-check

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
	./target/release/kefu build --kb datasets/kb.jsonl --out $(DEMO_INDEX) --model $(MULTILINGUAL_DIR)
	@bash tools/scripts/demo-banner.sh $(GRPC) $(METRICS)
	./target/release/kefu-server --index $(DEMO_INDEX) --model $(MULTILINGUAL_DIR) \
		--listen $(GRPC) --metrics $(METRICS) --routing-dir data/routing

test: model model-multilingual ## fetch the models if missing, run every test
	$(CARGO) test --workspace

deploy-check: model ## 3 answer replicas + router behind nginx on loopback: kefu-load across a rolling reload, 0 failures
	CARGO="$(CARGO)" bash deploy/check.sh

build: ## debug build of every crate
	$(CARGO) build --workspace --all-targets

release: ## optimised binaries in target/release
	$(CARGO) build --release --workspace

bench: model ## criterion benches: embed, search (builds a 100k synthetic index), route
	$(CARGO) bench -p kefu-bench

lint: ## formatting and clippy, as reviewers expect
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

clean: ## remove build output (keeps models/)
	$(CARGO) clean

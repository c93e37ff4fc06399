# kefu — two set-up commands: `make demo` and `make test`. The rest are helpers.
SHELL := /bin/bash
CARGO ?= cargo
MODEL_DIR := models/all-MiniLM-L6-v2

.PHONY: help model demo test build release bench lint fmt clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

model: $(MODEL_DIR)/model.safetensors ## fetch the embedding model into models/ (once)

$(MODEL_DIR)/model.safetensors:
	bash tools/scripts/fetch-model.sh $(MODEL_DIR)

demo: model ## fetch the model, then show the encoder at work
	$(CARGO) build --release -p kefu
	@echo
	@echo "similarity of two paraphrased questions:"
	./target/release/kefu similarity "How long does the battery of this bluetooth headset last?" "How many hours can I listen after a full charge?"
	@echo "similarity of two unrelated questions:"
	./target/release/kefu similarity "How long does the battery of this bluetooth headset last?" "Can I pay with PayPal?"

test: model ## fetch the model if missing, run every test
	$(CARGO) test --workspace

build: ## debug build of every crate
	$(CARGO) build --workspace --all-targets

release: ## optimised binaries in target/release
	$(CARGO) build --release --workspace

bench: model ## criterion benches (slow)
	$(CARGO) bench -p kefu-bench

lint: ## formatting and clippy, as reviewers expect
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## format the code
	$(CARGO) fmt --all

clean: ## remove build output (keeps models/)
	$(CARGO) clean

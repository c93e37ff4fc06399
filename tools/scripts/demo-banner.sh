#!/usr/bin/env bash
# Printed by `make demo` just before the server starts: how to talk to it.
GRPC="${1:-127.0.0.1:50051}"
METRICS="${2:-127.0.0.1:9464}"
cat <<TXT

kefu-server is starting on ${GRPC} (gRPC) and http://${METRICS} (REST/JSON, metrics). Ctrl-C stops it.
From another terminal:

  # Python (pip install ./clients/python)
  python3 examples/ask.py "how many hours can I listen after a full charge?" --addr ${GRPC}

  # answer or hand off (decide_only: no ticket is filed)
  python3 examples/resolve.py "¿Dónde está mi paquete?" --addr ${GRPC}
  python3 examples/resolve.py "I want to talk to a human about my refund" --addr ${GRPC}

  # grpcurl (uses server reflection; no .proto needed)
  grpcurl -plaintext -d '{"question": "我的包裹在哪里", "decide_only": true}' ${GRPC} kefu.v1.Answers/Resolve
  grpcurl -plaintext -d '{"question": "do you accept paypal?", "k": 3}' ${GRPC} kefu.v1.Answers/Ask
  grpcurl -plaintext -d '{"question": "wo ist mein Paket", "locales": ["de"]}' ${GRPC} kefu.v1.Answers/Ask
  grpcurl -plaintext ${GRPC} kefu.v1.Admin/Info
  grpcurl -plaintext ${GRPC} list

  # HTTP/JSON, same calls (routes listed at http://${METRICS}/ and /openapi.json)
  curl -s http://${METRICS}/v1/answers/ask -d '{"question": "do you accept paypal?", "k": 3}'

  # the CLI against the same index
  ./target/release/kefu query data/index "my parcel is stuck at customs" --model models/multilingual-e5-small
  ./target/release/kefu calibrate data/index

  curl -s http://${METRICS}/metrics | grep kefu_requests

TXT

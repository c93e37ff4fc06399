#!/usr/bin/env python3
"""Ask kefu a question over gRPC from Python.

    pip install grpcio grpcio-tools
    python3 examples/ask.py "where is my parcel?" [--addr 127.0.0.1:50051] [--locale en]

Stubs are generated from server/proto at run time (grpc_tools.protoc), so this
file works with whatever version of the .proto files sits beside it.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kefu_stubs  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question")
    p.add_argument("--addr", default="127.0.0.1:50051")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--locale", action="append", default=[])
    p.add_argument("--market", action="append", default=[])
    args = p.parse_args()

    import grpc

    pb, rpc = kefu_stubs.load("answers", "admin", "routing")
    with grpc.insecure_channel(args.addr) as channel:
        stub = rpc.AnswersStub(channel)
        req = pb.AskRequest(question=args.question, k=args.k, locales=args.locale, markets=args.market)
        try:
            resp = stub.Ask(req, timeout=5.0)
        except grpc.RpcError as e:
            sys.exit(f"kefu: {e.code().name}: {e.details()}")
    t = resp.timings
    print(f"index {resp.index_version}: embed {t.embed_us} µs (cache hit: {t.cache_hit}), search {t.search_us} µs")
    for i, h in enumerate(resp.hits, 1):
        print(f"{i}. {h.score:.3f} {h.article_id}: {h.title}\n   matched: {h.matched_question}\n   {h.answer}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Ask kefu a question over gRPC from Python.

    pip install ./clients/python
    python3 examples/ask.py "where is my parcel?" [--addr 127.0.0.1:50051] [--locale en]

Uses the kefu_client package, whose stubs pip generated from server/proto.
"""
import argparse
import sys

try:
    from kefu_client import Kefu, KefuError
except ImportError:
    sys.exit("kefu: this example needs the kefu_client package: pip install ./clients/python")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("question")
    p.add_argument("--addr", default="127.0.0.1:50051")
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--locale", action="append", default=[])
    p.add_argument("--market", action="append", default=[])
    args = p.parse_args()

    with Kefu(args.addr, timeout=5.0) as kefu:
        try:
            resp = kefu.ask(args.question, k=args.k, locales=args.locale, markets=args.market)
        except KefuError as e:
            sys.exit(f"kefu: {e}")
    t = resp.timings
    print(f"index {resp.index_version}: embed {t.embed_us} µs (cache hit: {t.cache_hit}), search {t.search_us} µs")
    for i, h in enumerate(resp.hits, 1):
        print(f"{i}. {h.score:.3f} {h.article_id}: {h.title}\n   matched: {h.matched_question}\n   {h.answer}")


if __name__ == "__main__":
    main()

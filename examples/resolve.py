#!/usr/bin/env python3
"""Ask kefu to answer or hand off one customer message, over gRPC from Python.

    pip install ./clients/python
    python3 examples/resolve.py "¿Dónde está mi paquete?" [--addr 127.0.0.1:50051]
    python3 examples/resolve.py "I want to talk to a human" --customer c-42 --channel chat --route

Without --route the call sets decide_only (no ticket is filed with the router).
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
    p.add_argument("--customer", default="demo-customer")
    p.add_argument("--language", default="", help="the customer's declared language, e.g. es")
    p.add_argument("--channel", default="chat")
    p.add_argument("--market", action="append", default=[])
    p.add_argument("--route", action="store_true", help="file the handoff ticket with the router")
    args = p.parse_args()

    with Kefu(args.addr, timeout=5.0) as kefu:
        try:
            r = kefu.resolve(
                args.question,
                customer_id=args.customer,
                language=args.language,
                channel=args.channel,
                markets=args.market,
                decide_only=not args.route,
            )
        except KefuError as e:
            sys.exit(f"kefu: {e}")
    print(f"{r.decision}: {r.explanation} (confidence {r.confidence:.3f}, threshold {r.threshold:.3f})")
    print(f"language {r.language} ({r.language_source}), answered from locale {r.answered_locale or '-'}")
    if r.answer is not None:
        a = r.answer
        note = "" if r.answer_in_customer_language else "  [not in the customer's language: translate]"
        print(f"answer [{a.article_id}, {a.locale}] {a.title}{note}\n  {a.answer}")
    if r.handoff is not None:
        h = r.handoff
        where = f"assigned to {h.agent_id}" if h.assigned else f"queued at position {h.queue_position}"
        print(f"ticket {h.ticket_id} {where} (category {h.category})")
    for i, s in enumerate(r.suggestions, 1):
        print(f"suggestion {i}. {s.score:.3f} {s.article_id} [{s.locale}] {s.title}")


if __name__ == "__main__":
    main()

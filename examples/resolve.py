#!/usr/bin/env python3
"""Ask kefu to answer or hand off one customer message, over gRPC from Python.

    pip install grpcio grpcio-tools
    python3 examples/resolve.py "¿Dónde está mi paquete?" [--addr 127.0.0.1:50051]
    python3 examples/resolve.py "I want to talk to a human" --customer c-42 --channel chat --route

Without --route the call sets decide_only (no ticket is filed with the router).
Stubs are generated from server/proto at run time (grpc_tools.protoc).
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
    p.add_argument("--customer", default="demo-customer")
    p.add_argument("--language", default="", help="the customer's declared language, e.g. es")
    p.add_argument("--channel", default="chat")
    p.add_argument("--market", action="append", default=[])
    p.add_argument("--route", action="store_true", help="file the handoff ticket with the router")
    args = p.parse_args()

    import grpc

    pb, rpc = kefu_stubs.load("answers", "routing")
    req = pb.ResolveRequest(
        question=args.question,
        customer=pb.Customer(id=args.customer, language=args.language),
        channel=args.channel,
        markets=args.market,
        decide_only=not args.route,
    )
    with grpc.insecure_channel(args.addr) as channel:
        try:
            r = rpc.AnswersStub(channel).Resolve(req, timeout=5.0)
        except grpc.RpcError as e:
            sys.exit(f"kefu: {e.code().name}: {e.details()}")
    decision = pb.ResolveDecision.Name(r.decision)
    print(f"{decision}: {r.explanation} (confidence {r.confidence:.3f}, threshold {r.threshold:.3f})")
    print(f"language {r.language} ({r.language_source}), answered from locale {r.answered_locale or '-'}")
    if r.HasField("answer"):
        a = r.answer
        note = "" if r.answer_in_customer_language else "  [not in the customer's language: translate]"
        print(f"answer [{a.article_id}, {a.locale}] {a.title}{note}\n  {a.answer}")
    if r.HasField("handoff"):
        h = r.handoff
        where = f"assigned to {h.agent_id}" if h.assigned else f"queued at position {h.queue_position}"
        print(f"ticket {h.ticket_id} {where} (category {h.category})")
    for i, s in enumerate(r.suggestions, 1):
        print(f"suggestion {i}. {s.score:.3f} {s.article_id} [{s.locale}] {s.title}")


if __name__ == "__main__":
    main()

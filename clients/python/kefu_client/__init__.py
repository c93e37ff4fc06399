"""kefu-client: call kefu (answer-or-handoff, knowledge-base search, agent routing) from Python.

    from kefu_client import Kefu

    with Kefu("127.0.0.1:50051") as kefu:
        r = kefu.resolve("where is my parcel?", customer_id="c-42", channel="chat")
        print(r.decision, r.answer.title if r.answer else r.suggestions)

The raw messages and stubs, generated from server/proto when this package was
built, are in `kefu_client.v1` (answers_pb2, routing_pb2, admin_pb2 and *_pb2_grpc).
"""

from .client import AssignmentWatch, Kefu
from .errors import KefuError
from .types import (
    Agent,
    AgentState,
    Answers,
    Assignment,
    Candidate,
    Decision,
    Embeddings,
    Exclusion,
    Hit,
    Info,
    QueuedTicket,
    Reloaded,
    Resolution,
    Routed,
    SearchResult,
    Timings,
)

__all__ = [
    "Agent",
    "AgentState",
    "AssignmentWatch",
    "Answers",
    "Assignment",
    "Candidate",
    "Decision",
    "Embeddings",
    "Exclusion",
    "Hit",
    "Info",
    "Kefu",
    "KefuError",
    "QueuedTicket",
    "Reloaded",
    "Resolution",
    "Routed",
    "SearchResult",
    "Timings",
]

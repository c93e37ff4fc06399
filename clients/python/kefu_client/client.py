"""Kefu: one gRPC channel to a kefu server and a typed method per call.

Arguments are keyword arguments named as the .proto fields; enums are passed
and returned as their names ("VIP", "ONLINE"); replies are the dataclasses of
kefu_client.types. Every failure raises KefuError with the gRPC code's name.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, TypeVar, Union

import grpc

from .errors import KefuError
from .types import (
    Agent,
    AgentState,
    Answers,
    Assignment,
    Embeddings,
    Info,
    QueuedTicket,
    Reloaded,
    Resolution,
    Routed,
    SearchResult,
)
from .v1 import admin_pb2, admin_pb2_grpc, answers_pb2, answers_pb2_grpc, routing_pb2, routing_pb2_grpc

DEFAULT_ADDR = "127.0.0.1:50051"
Filters = Mapping[str, Sequence[str]]
_R = TypeVar("_R")


class Kefu:
    """A kefu server at `addr` (host:port, plaintext); `timeout` seconds bound every call.

    Use it as a context manager, or call close(), to release the channel. Pass
    `channel` to bring your own (e.g. grpc.secure_channel behind a TLS proxy).
    The raw stubs come from kefu_client.v1 and take `kefu.channel`.
    """

    def __init__(self, addr: str = DEFAULT_ADDR, timeout: Optional[float] = 5.0, *, channel: Optional[grpc.Channel] = None):
        self.addr = addr
        self.timeout = timeout
        self.channel = channel if channel is not None else grpc.insecure_channel(addr)
        self._answers = answers_pb2_grpc.AnswersStub(self.channel)
        self._routing = routing_pb2_grpc.RoutingStub(self.channel)
        self._admin = admin_pb2_grpc.AdminStub(self.channel)

    def __enter__(self) -> Kefu:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel; calls after this fail."""
        self.channel.close()

    def _call(self, method: Callable[..., Any], request: Any, convert: Callable[[Any], _R]) -> _R:
        try:
            reply = method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise KefuError._from_rpc(e) from None
        except ValueError as e:  # grpc's answer to a call on a closed channel
            raise KefuError(grpc.StatusCode.CANCELLED, f"the client is closed ({e})") from None
        return convert(reply)

    # Answers

    def ask(
        self,
        question: str,
        *,
        k: Optional[int] = None,
        locales: Iterable[str] = (),
        markets: Iterable[str] = (),
        categories: Iterable[str] = (),
        filters: Optional[Filters] = None,
        ef: Optional[int] = None,
    ) -> Answers:
        """The best articles for a customer's question (k unset: the server's default)."""
        req = answers_pb2.AskRequest(
            question=question,
            k=k,
            locales=list(locales),
            markets=list(markets),
            categories=list(categories),
            filters=_filters(filters),
            ef=ef,
        )
        return self._call(self._answers.Ask, req, Answers._from_pb)

    def resolve(
        self,
        question: str,
        *,
        customer_id: str = "",
        language: str = "",
        tier: str = "",
        channel: str = "",
        markets: Iterable[str] = (),
        locales: Iterable[str] = (),
        min_confidence: Optional[float] = None,
        suggestions: Optional[int] = None,
        ticket_id: str = "",
        priority: int = 0,
        decide_only: bool = False,
    ) -> Resolution:
        """ANSWER now or HANDOFF to a person (filing the ticket unless decide_only), and why.

        customer_id and channel are required unless decide_only; language is the
        customer's declared language, used when the message is too short to tell.
        """
        req = answers_pb2.ResolveRequest(
            question=question,
            customer=answers_pb2.Customer(id=customer_id, tier=_enum(routing_pb2.Tier, tier, "tier"), language=language),
            channel=channel,
            markets=list(markets),
            locales=list(locales),
            min_confidence=min_confidence,
            suggestions=suggestions,
            ticket_id=ticket_id,
            priority=priority,
            decide_only=decide_only,
        )
        return self._call(self._answers.Resolve, req, Resolution._from_pb)

    def search(
        self,
        text: Optional[str] = None,
        *,
        vector: Optional[Sequence[float]] = None,
        k: Optional[int] = None,
        filters: Optional[Filters] = None,
        ef: Optional[int] = None,
    ) -> SearchResult:
        """The best articles for `text` (embedded by the server) or for a `vector` you computed: give one."""
        if text is not None and vector is None:
            req = answers_pb2.SearchRequest(text=text, k=k, filters=_filters(filters), ef=ef)
        elif vector is not None and text is None:
            query = answers_pb2.Vector(values=list(vector))
            req = answers_pb2.SearchRequest(vector=query, k=k, filters=_filters(filters), ef=ef)
        else:
            raise KefuError(grpc.StatusCode.INVALID_ARGUMENT, "search takes exactly one of text or vector")
        return self._call(self._answers.Search, req, SearchResult._from_pb)

    def embed(self, texts: Union[str, Iterable[str]]) -> Embeddings:
        """Unit-length embeddings of the texts, in order (a single string is one text)."""
        texts = [texts] if isinstance(texts, str) else list(texts)
        return self._call(self._answers.Embed, answers_pb2.EmbedRequest(texts=texts), Embeddings._from_pb)

    # Routing

    def route(
        self,
        ticket_id: str,
        *,
        customer_id: str,
        text: str = "",
        language: str = "",
        channel: str = "",
        tier: str = "",
        category: str = "",
        required: Optional[Mapping[str, int]] = None,
        additional: Optional[Mapping[str, int]] = None,
        priority: int = 0,
        preferred_agent: str = "",
    ) -> Routed:
        """Assigns a ticket to the best eligible agent, or queues it.

        `required` and `additional` map a skill to its minimum level (1..5);
        additional skills are dropped once the ticket has waited long enough.
        """
        req = routing_pb2.RouteRequest(
            ticket_id=ticket_id,
            customer_id=customer_id,
            tier=_enum(routing_pb2.Tier, tier, "tier"),
            language=language,
            channel=channel,
            category=category,
            text=text,
            required=_skills(required),
            additional=_skills(additional),
            priority=priority,
            preferred_agent=preferred_agent,
        )
        return self._call(self._routing.Route, req, Routed._from_pb)

    def complete(self, ticket_id: str) -> List[Assignment]:
        """Closes a ticket; returns the assignments that freed capacity caused."""
        req = routing_pb2.CompleteRequest(ticket_id=ticket_id)
        return self._call(self._routing.Complete, req, Assignment._list)

    def transfer(self, ticket_id: str, to_agent_id: str = "") -> List[Assignment]:
        """Moves an open ticket to a named agent, or (empty) to the best other agent."""
        req = routing_pb2.TransferRequest(ticket_id=ticket_id, to_agent_id=to_agent_id)
        return self._call(self._routing.Transfer, req, Assignment._list)

    def queue(self) -> List[QueuedTicket]:
        """Waiting tickets, most urgent first."""
        return self._call(
            self._routing.GetQueue, routing_pb2.GetQueueRequest(), lambda r: [QueuedTicket._from_pb(t) for t in r.tickets]
        )

    def upsert_agent(self, agent: Agent, presence: str = "") -> List[Assignment]:
        """Adds or replaces an agent (presence unset keeps the current one; new agents start OFFLINE)."""
        pb = routing_pb2.Agent(
            id=agent.id,
            name=agent.name,
            languages=agent.languages,
            skills=agent.skills,
            expertise=agent.expertise,
            tiers=[_enum(routing_pb2.Tier, t, "tier") for t in agent.tiers],
            capacity=agent.capacity,
            translation=agent.translation,
        )
        req = routing_pb2.UpsertAgentRequest(agent=pb, presence=_enum(routing_pb2.Presence, presence, "presence"))
        return self._call(self._routing.UpsertAgent, req, Assignment._list)

    def set_presence(self, agent_id: str, presence: str) -> List[Assignment]:
        """ONLINE, AWAY or OFFLINE; going online pulls waiting tickets at once."""
        req = routing_pb2.SetPresenceRequest(agent_id=agent_id, presence=_enum(routing_pb2.Presence, presence, "presence"))
        return self._call(self._routing.SetPresence, req, Assignment._list)

    def remove_agent(self, agent_id: str) -> List[Assignment]:
        """Removes an agent; its open tickets go back to the queue."""
        req = routing_pb2.RemoveAgentRequest(agent_id=agent_id)
        return self._call(self._routing.RemoveAgent, req, Assignment._list)

    def watch_assignments(self, agent_id: str, timeout: Optional[float] = None) -> AssignmentWatch:
        """Assignments to one agent as they happen (for agent desktops), until cancelled or `timeout` seconds.

        Returns once the server has subscribed, so nothing assigned after this
        call is missed. An unknown agent raises KefuError NOT_FOUND, here or on
        the first next().
        """
        call = self._routing.WatchAssignments(routing_pb2.WatchAssignmentsRequest(agent_id=agent_id), timeout=timeout)
        try:
            call.initial_metadata()  # headers come after the server subscribed
            if call.done() and call.code() != grpc.StatusCode.OK:
                raise KefuError(call.code(), call.details() or "")
        except grpc.RpcError as e:
            raise KefuError._from_rpc(e) from None
        return AssignmentWatch(call)

    def agent(self, agent_id: str) -> AgentState:
        """One agent's live state."""
        req = routing_pb2.GetAgentRequest(agent_id=agent_id)
        return self._call(self._routing.GetAgent, req, AgentState._from_pb)

    # Admin

    def info(self) -> Info:
        """What the server is serving."""
        return self._call(self._admin.Info, admin_pb2.InfoRequest(), Info._from_pb)

    def reload(self, version: str = "") -> Reloaded:
        """Switches to another index version (empty: whatever the root's `current` names now)."""
        req = admin_pb2.ReloadRequest(version=version)
        return self._call(self._admin.Reload, req, lambda r: Reloaded(r.previous_version, r.version))


class AssignmentWatch:
    """An open WatchAssignments stream: iterate it for Assignments; cancel() (or leaving `with`) ends it."""

    def __init__(self, call: Any):
        self._call = call
        self._cancelled = False

    def __iter__(self) -> Iterator[Assignment]:
        return self

    def __next__(self) -> Assignment:
        try:
            a = next(self._call)
        except grpc.RpcError as e:
            if self._cancelled:
                raise StopIteration from None
            raise KefuError._from_rpc(e) from None
        return Assignment(a.ticket_id, a.agent_id, a.customer_id, a.channel, a.category, a.text)

    def cancel(self) -> None:
        """Ends the stream; iteration then stops."""
        self._cancelled = True
        self._call.cancel()

    def __enter__(self) -> AssignmentWatch:
        return self

    def __exit__(self, *exc) -> None:
        self.cancel()


def _filters(filters: Optional[Filters]) -> List[answers_pb2.FilterClause]:
    if not filters:
        return []
    return [answers_pb2.FilterClause(field=f, values=[values] if isinstance(values, str) else list(values)) for f, values in filters.items()]


def _skills(skills: Optional[Mapping[str, int]]) -> List[routing_pb2.SkillRequirement]:
    return [routing_pb2.SkillRequirement(skill=s, min_level=level) for s, level in (skills or {}).items()]


def _enum(enum: Any, name: str, what: str) -> Any:
    """An enum's number from its name ("" is unspecified); an unknown name is INVALID_ARGUMENT, as the server says it."""
    if not name:
        return 0
    try:
        return enum.Value(name.upper())
    except ValueError:
        names = ", ".join(n for n in enum.keys() if not n.endswith("_UNSPECIFIED"))
        raise KefuError(grpc.StatusCode.INVALID_ARGUMENT, f"unknown {what} {name!r}: one of {names}") from None

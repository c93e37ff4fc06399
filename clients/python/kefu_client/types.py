"""What kefu answers, as plain frozen dataclasses.

Callers get typed, immutable values that print readably and compare by value,
without handling protobuf messages; enums arrive as their names ("ANSWER",
"VIP", "ONLINE"). The fields mirror server/proto/kefu/v1 one to one, so the
.proto's comments document them. Each class is built by `_from_pb`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from .v1 import admin_pb2, answers_pb2, routing_pb2


@dataclass(frozen=True)
class Hit:
    """One article found for a question, with how well it matched."""

    article_id: str
    title: str
    answer: str
    score: float
    matched_question: str
    category: str
    locale: str

    @classmethod
    def _from_pb(cls, m: answers_pb2.Hit) -> Hit:
        return cls(m.article_id, m.title, m.answer, m.score, m.matched_question, m.category, m.locale)


@dataclass(frozen=True)
class Timings:
    """Where one call's time went, in microseconds, and whether the embedding was cached."""

    embed_us: int
    search_us: int
    total_us: int
    cache_hit: bool

    @classmethod
    def _from_pb(cls, m: answers_pb2.Timings) -> Timings:
        return cls(m.embed_us, m.search_us, m.total_us, m.cache_hit)


@dataclass(frozen=True)
class Answers:
    """The reply to `ask`: best articles first, and which index version answered."""

    hits: List[Hit]
    timings: Timings
    index_version: str
    language: str

    @classmethod
    def _from_pb(cls, m: answers_pb2.AskResponse) -> Answers:
        return cls([Hit._from_pb(h) for h in m.hits], Timings._from_pb(m.timings), m.index_version, m.language)


@dataclass(frozen=True)
class SearchResult:
    """The reply to `search`: best articles first."""

    hits: List[Hit]
    timings: Timings
    index_version: str

    @classmethod
    def _from_pb(cls, m: answers_pb2.SearchResponse) -> SearchResult:
        return cls([Hit._from_pb(h) for h in m.hits], Timings._from_pb(m.timings), m.index_version)


@dataclass(frozen=True)
class Embeddings:
    """Unit-length vectors, one per text in order, and the model that made them."""

    vectors: List[List[float]]
    dim: int
    model: str
    model_sha256: str

    @classmethod
    def _from_pb(cls, m: answers_pb2.EmbedResponse) -> Embeddings:
        return cls([list(v.values) for v in m.vectors], m.dim, m.model, m.model_sha256)


@dataclass(frozen=True)
class Exclusion:
    """How many agents one eligibility rule (e.g. "language:de") ruled out."""

    rule: str
    excluded: int


@dataclass(frozen=True)
class Candidate:
    """One eligible agent's score and its parts."""

    agent_id: str
    score: float
    proficiency: float
    expertise: float
    idle: float
    spare: float
    sticky: bool


@dataclass(frozen=True)
class Decision:
    """Why a ticket went where it went: the ring, who was excluded, the best candidates."""

    ring: int
    eligible: int
    excluded: List[Exclusion]
    candidates: List[Candidate]

    @classmethod
    def _from_pb(cls, m: routing_pb2.Decision) -> Decision:
        excluded = [Exclusion(e.rule, e.excluded) for e in m.excluded]
        candidates = [
            Candidate(c.agent_id, c.score, c.proficiency, c.expertise, c.idle, c.spare, c.sticky) for c in m.candidates
        ]
        return cls(m.ring, m.eligible, excluded, candidates)


@dataclass(frozen=True)
class Routed:
    """The reply to `route` (and a resolve's handoff): the agent assigned, or the queue position."""

    ticket_id: str
    assigned: bool
    agent_id: str
    queue_position: int
    ring: int
    decision: Decision
    category: str

    @classmethod
    def _from_pb(cls, m: routing_pb2.RouteResponse) -> Routed:
        return cls(
            m.ticket_id, m.assigned, m.agent_id, m.queue_position, m.ring, Decision._from_pb(m.decision), m.category
        )


@dataclass(frozen=True)
class Resolution:
    """The reply to `resolve`: ANSWER with `answer`, or HANDOFF with `suggestions` (and `handoff` when filed)."""

    decision: str
    reason: str
    explanation: str
    confidence: float
    threshold: float
    answer: Optional[Hit]
    answer_in_customer_language: bool
    language: str
    language_source: str
    answered_locale: str
    fell_back_to_all_locales: bool
    category: str
    urgency: int
    urgency_cues: List[str]
    suggestions: List[Hit]
    handoff: Optional[Routed]
    ambiguous_between: List[str]
    timings: Timings
    index_version: str

    @classmethod
    def _from_pb(cls, m: answers_pb2.ResolveResponse) -> Resolution:
        return cls(
            decision=answers_pb2.ResolveDecision.Name(m.decision),
            reason=m.reason,
            explanation=m.explanation,
            confidence=m.confidence,
            threshold=m.threshold,
            answer=Hit._from_pb(m.answer) if m.HasField("answer") else None,
            answer_in_customer_language=m.answer_in_customer_language,
            language=m.language,
            language_source=m.language_source,
            answered_locale=m.answered_locale,
            fell_back_to_all_locales=m.fell_back_to_all_locales,
            category=m.category,
            urgency=m.urgency,
            urgency_cues=list(m.urgency_cues),
            suggestions=[Hit._from_pb(h) for h in m.suggestions],
            handoff=Routed._from_pb(m.handoff) if m.HasField("handoff") else None,
            ambiguous_between=list(m.ambiguous_between),
            timings=Timings._from_pb(m.timings),
            index_version=m.index_version,
        )


@dataclass(frozen=True)
class Assignment:
    """A ticket given to an agent, e.g. a freed agent pulling the next waiting ticket."""

    ticket_id: str
    agent_id: str
    customer_id: str
    channel: str
    category: str
    text: str

    @classmethod
    def _list(cls, m: routing_pb2.RoutingEvents) -> List[Assignment]:
        return [cls(a.ticket_id, a.agent_id, a.customer_id, a.channel, a.category, a.text) for a in m.assignments]


@dataclass(frozen=True)
class QueuedTicket:
    """A waiting ticket, as `queue` lists them: most urgent first."""

    ticket_id: str
    customer_id: str
    tier: str
    language: str
    channel: str
    category: str
    priority: int
    position: int
    ring: int
    waited_ms: int

    @classmethod
    def _from_pb(cls, m: routing_pb2.QueuedTicket) -> QueuedTicket:
        tier = routing_pb2.Tier.Name(m.tier)
        return cls(m.ticket_id, m.customer_id, tier, m.language, m.channel, m.category, m.priority, m.position, m.ring, m.waited_ms)


@dataclass(frozen=True)
class Agent:
    """A human agent: what they speak and know, and how many conversations per channel they take."""

    id: str
    name: str = ""
    languages: List[str] = field(default_factory=list)
    skills: Dict[str, int] = field(default_factory=dict)
    expertise: str = ""
    tiers: List[str] = field(default_factory=list)
    capacity: Dict[str, int] = field(default_factory=dict)
    translation: bool = False

    @classmethod
    def _from_pb(cls, m: routing_pb2.Agent) -> Agent:
        tiers = [routing_pb2.Tier.Name(t) for t in m.tiers]
        return cls(m.id, m.name, list(m.languages), dict(m.skills), m.expertise, tiers, dict(m.capacity), m.translation)


@dataclass(frozen=True)
class AgentState:
    """One agent's live state: presence, load per channel and open tickets."""

    agent: Agent
    presence: str
    load: Dict[str, int]
    open_tickets: List[str]
    last_assigned_ms: int

    @classmethod
    def _from_pb(cls, m: routing_pb2.AgentState) -> AgentState:
        presence = routing_pb2.Presence.Name(m.presence)
        return cls(Agent._from_pb(m.agent), presence, dict(m.load), list(m.open_tickets), m.last_assigned_ms)


@dataclass(frozen=True)
class Reloaded:
    """The index versions served before and after a reload."""

    previous_version: str
    version: str


@dataclass(frozen=True)
class Info:
    """What the server is serving: index version, model and sizes."""

    index_version: str
    index_root: str
    manifest_json: str
    model: str
    model_sha256: str
    dim: int
    articles: int
    vectors: int
    uptime_seconds: int
    server_version: str

    @classmethod
    def _from_pb(cls, m: admin_pb2.InfoResponse) -> Info:
        return cls(
            m.index_version,
            m.index_root,
            m.manifest_json,
            m.model,
            m.model_sha256,
            m.dim,
            m.articles,
            m.vectors,
            m.uptime_seconds,
            m.server_version,
        )

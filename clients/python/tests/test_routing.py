"""Routing through the wrapper: an agent, tickets assigned and queued, completion pulling the queue."""

import pytest

from kefu_client import Agent, KefuError

ANA = Agent(
    id="py-ana",
    name="Ana",
    languages=["en", "es"],
    skills={"billing": 4},
    expertise="refunds, card payments, chargebacks",
    tiers=["STANDARD"],
    capacity={"chat": 1},
)


def test_route_assigns_queues_and_complete_pulls_the_queue(kefu):
    assert kefu.upsert_agent(ANA, presence="ONLINE") == []
    state = kefu.agent("py-ana")
    assert state.presence == "ONLINE" and state.agent == ANA

    first = kefu.route(
        "py-t1", customer_id="c-10", language="en", channel="chat", text="I was charged twice", required={"billing": 3}
    )
    assert first.assigned and first.agent_id == "py-ana"
    assert first.category == "payment"
    assert first.decision.candidates[0].agent_id == "py-ana"

    second = kefu.route("py-t2", customer_id="c-11", language="en", channel="chat", text="refund for my order")
    assert not second.assigned and second.queue_position >= 1
    assert "py-t2" in [t.ticket_id for t in kefu.queue()]

    pulled = kefu.complete("py-t1")
    assert [(a.ticket_id, a.agent_id, a.customer_id) for a in pulled] == [("py-t2", "py-ana", "c-11")]
    assert "py-t2" not in [t.ticket_id for t in kefu.queue()]
    assert kefu.agent("py-ana").open_tickets == ["py-t2"]

    assert kefu.set_presence("py-ana", "away") == []
    assert kefu.agent("py-ana").presence == "AWAY"


def test_watch_assignments_sees_the_agents_new_ticket(kefu):
    bo = Agent(id="py-bo", languages=["de"], tiers=["STANDARD"], capacity={"voice": 1})
    kefu.upsert_agent(bo, presence="ONLINE")
    with kefu.watch_assignments("py-bo", timeout=30.0) as watch:
        routed = kefu.route("py-w1", customer_id="c-20", language="de", channel="voice", text="Wo ist mein Paket?")
        assert routed.agent_id == "py-bo"
        a = next(watch)
    assert (a.ticket_id, a.agent_id, a.customer_id, a.channel) == ("py-w1", "py-bo", "c-20", "voice")
    assert list(watch) == []  # cancelled: iteration ends


def test_watching_an_unknown_agent_is_not_found(kefu):
    with pytest.raises(KefuError) as e:
        next(kefu.watch_assignments("py-nobody", timeout=30.0))
    assert e.value.code == "NOT_FOUND"


def test_routing_refusals_raise_kefu_error(kefu):
    with pytest.raises(KefuError) as e:
        kefu.complete("py-no-such-ticket")
    assert e.value.code == "NOT_FOUND"
    with pytest.raises(KefuError) as e:
        kefu.agent("py-nobody")
    assert e.value.code == "NOT_FOUND"
    with pytest.raises(KefuError) as e:
        kefu.set_presence("py-ana", "busy")
    assert e.value.code == "INVALID_ARGUMENT" and "ONLINE" in e.value.message

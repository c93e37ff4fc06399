"""Answers and Admin through the wrapper, against the real server."""

import math

import pytest

from kefu_client import Hit, Kefu, KefuError


def test_ask_finds_the_article_and_its_timings(kefu):
    r = kefu.ask("how many hours can I listen after a full charge?", k=2)
    assert [type(h) for h in r.hits] == [Hit, Hit]
    assert r.hits[0].article_id == "tech-001"
    assert r.hits[0].score >= r.hits[1].score
    assert r.timings.total_us >= r.timings.embed_us
    assert r.index_version == kefu.info().index_version
    assert r.language == "en"


def test_ask_filters_by_category(kefu):
    r = kefu.ask("how do I pay?", k=5, categories=["payment"])
    assert len(r.hits) == 5
    assert {h.category for h in r.hits} == {"payment"}
    by_clause = kefu.ask("how do I pay?", k=5, filters={"category": ["payment"]})
    assert [h.article_id for h in by_clause.hits] == [h.article_id for h in r.hits]


def test_resolve_answers_when_confident(kefu):
    r = kefu.resolve("I forgot my password and cannot log in", customer_id="c-1", language="en", decide_only=True)
    assert r.decision == "ANSWER", r
    assert r.reason == "confident"
    assert r.answer is not None and r.answer.article_id == "acct-001"
    assert r.confidence >= r.threshold
    assert r.handoff is None


def test_resolve_hands_off_and_files_the_ticket(kefu):
    r = kefu.resolve(
        "I want to talk to a person", customer_id="c-2", channel="whatsapp", ticket_id="py-resolve-1", tier="vip"
    )
    assert (r.decision, r.reason) == ("HANDOFF", "asked_for_human")
    assert r.answer is None
    assert r.handoff is not None and r.handoff.ticket_id == "py-resolve-1"
    assert not r.handoff.assigned  # no agent serves whatsapp in these tests
    queued = {t.ticket_id: t for t in kefu.queue()}
    assert queued["py-resolve-1"].tier == "VIP"
    assert queued["py-resolve-1"].channel == "whatsapp"


def test_embed_returns_unit_vectors_of_the_model(kefu):
    e = kefu.embed(["refund please", "where is my parcel"])
    assert e.dim == 384 and e.model == "all-MiniLM-L6-v2" and len(e.model_sha256) == 64
    assert [len(v) for v in e.vectors] == [384, 384]
    for v in e.vectors:
        assert math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-3)
    assert kefu.embed("refund please").vectors == e.vectors[:1]


def test_search_by_text_and_by_vector_agree(kefu):
    by_text = kefu.search("where is my parcel", k=3, filters={"locale": "en"})
    vector = kefu.embed("where is my parcel").vectors[0]
    by_vector = kefu.search(vector=vector, k=3, filters={"locale": ["en"]})
    assert len(by_text.hits) == 3
    assert [h.article_id for h in by_vector.hits] == [h.article_id for h in by_text.hits]
    assert by_text.hits[0].article_id == kefu.ask("where is my parcel", k=1).hits[0].article_id


def test_info_describes_the_served_index(kefu):
    info = kefu.info()
    assert (info.articles, info.dim, info.model) == (154, 384, "all-MiniLM-L6-v2")
    assert info.vectors > info.articles


@pytest.mark.parametrize(
    "call, code, needle",
    [
        (lambda k: k.ask(""), "INVALID_ARGUMENT", "empty"),
        (lambda k: k.ask("hello", k=0), "INVALID_ARGUMENT", "k"),
        (lambda k: k.ask("hello", filters={"colour": ["red"]}), "INVALID_ARGUMENT", "colour"),
        (lambda k: k.search(vector=[0.5, 0.5]), "INVALID_ARGUMENT", "dimension"),
        (lambda k: k.embed([]), "INVALID_ARGUMENT", ""),
        (lambda k: k.reload("v0"), "NOT_FOUND", "v0"),
    ],
)
def test_server_refusals_raise_kefu_error(kefu, call, code, needle):
    with pytest.raises(KefuError) as e:
        call(kefu)
    assert e.value.code == code, e.value
    assert needle in e.value.message


def test_client_side_mistakes_raise_kefu_error(kefu):
    with pytest.raises(KefuError) as e:
        kefu.search("text", vector=[1.0])
    assert e.value.code == "INVALID_ARGUMENT"
    with pytest.raises(KefuError) as e:
        kefu.resolve("hello", tier="platinum", decide_only=True)
    assert e.value.code == "INVALID_ARGUMENT" and "platinum" in e.value.message


def test_unreachable_server_is_unavailable():
    with Kefu("127.0.0.1:1", timeout=5.0) as k:
        with pytest.raises(KefuError) as e:
            k.info()
    assert e.value.code == "UNAVAILABLE"


def test_closing_the_client_closes_its_channel(server):
    with Kefu(server.grpc_addr, timeout=30.0) as k:
        assert k.info().articles == 154
    with pytest.raises(KefuError) as e:
        k.info()
    assert e.value.code == "CANCELLED"

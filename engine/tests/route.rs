//! Routing rules, each on its own small desk, with an injected clock.

mod common;

use kefu_engine::embed::Encoder;
use kefu_engine::route::{
    AgentSpec, Command, DurableRouter, ExclusionRule, FsyncPolicy, Outcome, Presence, RouteError, Router,
    RouterConfig, SkillNeed, Ticket, Tier,
};
use std::collections::BTreeMap;

fn agent(id: &str, langs: &[&str], skills: &[(&str, u8)]) -> AgentSpec {
    AgentSpec {
        id: id.into(),
        name: id.to_uppercase(),
        languages: langs.iter().map(|s| s.to_string()).collect(),
        skills: skills.iter().map(|(s, l)| (s.to_string(), *l)).collect(),
        expertise: String::new(),
        tiers: vec![Tier::Standard],
        capacity: BTreeMap::from([("chat".to_string(), 2)]),
        translation: false,
    }
}

fn ticket(id: &str, lang: &str, skills: &[(&str, u8)]) -> Ticket {
    Ticket {
        id: id.into(),
        customer_id: format!("cust-{id}"),
        tier: Tier::Standard,
        language: lang.into(),
        channel: "chat".into(),
        category: String::new(),
        text: String::new(),
        vector: None,
        required: skills
            .iter()
            .map(|(s, l)| SkillNeed {
                skill: s.to_string(),
                min_level: *l,
            })
            .collect(),
        additional: vec![],
        priority: 0,
        created_ms: 0,
        preferred_agent: None,
    }
}

fn online(r: &mut Router, spec: AgentSpec, now: u64) {
    let id = spec.id.clone();
    r.upsert_agent(spec, None, now).unwrap();
    r.set_presence(&id, Presence::Online, now).unwrap();
}

fn assigned_to(o: &Outcome) -> Option<&str> {
    match o {
        Outcome::Assigned { assignment, .. } => Some(&assignment.agent),
        Outcome::Queued { .. } => None,
    }
}

const T0: u64 = 1_000_000;

#[test]
fn language_must_match() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("en", &["en"], &[("logistics", 3)]), T0);
    online(&mut r, agent("zh", &["zh"], &[("logistics", 3)]), T0);
    let o = r.route(ticket("t1", "zh", &[("logistics", 1)]), T0).unwrap();
    assert_eq!(assigned_to(&o), Some("zh"));
    let o = r.route(ticket("t2", "de", &[("logistics", 1)]), T0).unwrap();
    let Outcome::Queued { decision, .. } = o else {
        panic!("{o:?}")
    };
    assert!(
        decision
            .excluded
            .iter()
            .any(|e| e.rule.to_string() == "language:de" && e.excluded == 2),
        "{decision:?}"
    );
}

#[test]
fn vip_ticket_waits_for_vip_agent_until_the_any_tier_ring() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("std", &["en"], &[]), T0);
    let mut vip = ticket("v1", "en", &[]);
    vip.tier = Tier::Vip;
    let o = r.route(vip, T0).unwrap();
    assert!(matches!(o, Outcome::Queued { ring: 0, .. }), "{o:?}");
    // Rings 1 and 2 (30 s, 60 s) relax skills, not tier: still waiting.
    assert!(r.tick(T0 + 90_000).is_empty());
    // Ring 3 (120 s) allows any tier.
    let done = r.tick(T0 + 121_000);
    assert_eq!(done.len(), 1);
    assert_eq!(assigned_to(&done[0]), Some("std"));
}

#[test]
fn capacity_is_never_exceeded_and_a_freed_agent_pulls_the_best_waiting_ticket() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("a", &["en"], &[]), T0);
    for i in 0..2 {
        assert_eq!(
            assigned_to(&r.route(ticket(&format!("t{i}"), "en", &[]), T0).unwrap()),
            Some("a")
        );
    }
    // Full: the next tickets wait; the urgent one jumps the queue.
    assert!(matches!(
        r.route(ticket("low", "en", &[]), T0).unwrap(),
        Outcome::Queued { position: 1, .. }
    ));
    let mut urgent = ticket("urgent", "en", &[]);
    urgent.priority = 9;
    assert!(matches!(
        r.route(urgent, T0 + 1).unwrap(),
        Outcome::Queued { position: 1, .. }
    ));
    assert_eq!(r.agent("a").unwrap().load["chat"], 2);
    let pulled = r.complete("t0", T0 + 2).unwrap();
    assert_eq!(pulled.len(), 1);
    assert!(
        matches!(&pulled[0], Outcome::Assigned { assignment, .. } if assignment.ticket.id == "urgent" && assignment.agent == "a")
    );
    assert_eq!(r.agent("a").unwrap().load["chat"], 2);
    assert_eq!(r.queue(T0 + 2).len(), 1);
}

#[test]
fn presence_gates_eligibility_and_coming_online_pulls_work() {
    let mut r = Router::new(RouterConfig::default());
    r.upsert_agent(agent("a", &["en"], &[]), None, T0).unwrap();
    assert!(matches!(
        r.route(ticket("t", "en", &[]), T0).unwrap(),
        Outcome::Queued { .. }
    ));
    r.set_presence("a", Presence::Away, T0).unwrap();
    assert_eq!(r.queue(T0).len(), 1);
    let got = r.set_presence("a", Presence::Online, T0 + 5).unwrap();
    assert_eq!(got.len(), 1);
    assert!(r.queue(T0 + 5).is_empty());
}

#[test]
fn proficiency_thresholds_apply_and_relax_in_ring_two() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("junior", &["en"], &[("customs", 3)]), T0);
    let o = r.route(ticket("t", "en", &[("customs", 4)]), T0).unwrap();
    let Outcome::Queued { decision, .. } = o else {
        panic!()
    };
    assert!(
        decision.excluded.iter().any(|e| e.rule
            == ExclusionRule::Skill {
                skill: "customs".into(),
                level: 4
            }),
        "{decision:?}"
    );
    assert!(r.tick(T0 + 59_000).is_empty());
    // Ring 2 (60 s) lowers the bar by one level: 4 → 3.
    assert_eq!(assigned_to(&r.tick(T0 + 60_000)[0]), Some("junior"));
}

#[test]
fn higher_proficiency_wins_between_otherwise_equal_agents() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("a", &["en"], &[("payments", 2)]), T0);
    online(&mut r, agent("b", &["en"], &[("payments", 5)]), T0);
    let o = r.route(ticket("t", "en", &[("payments", 1)]), T0).unwrap();
    assert_eq!(assigned_to(&o), Some("b"));
}

#[test]
fn additional_skills_are_wanted_first_and_dropped_in_ring_one() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("a", &["en"], &[("returns", 3)]), T0);
    let mut t = ticket("t", "en", &[("returns", 1)]);
    t.additional = vec![SkillNeed {
        skill: "german-law".into(),
        min_level: 2,
    }];
    assert!(matches!(r.route(t, T0).unwrap(), Outcome::Queued { .. }));
    assert_eq!(assigned_to(&r.tick(T0 + 30_000)[0]), Some("a"));
}

#[test]
fn translation_agents_take_other_languages_in_the_last_ring() {
    let mut r = Router::new(RouterConfig::default());
    let mut a = agent("mt", &["en"], &[]);
    a.translation = true;
    online(&mut r, a, T0);
    assert!(matches!(
        r.route(ticket("t", "pt", &[]), T0).unwrap(),
        Outcome::Queued { .. }
    ));
    assert!(r.tick(T0 + 100_000).is_empty());
    assert_eq!(assigned_to(&r.tick(T0 + 120_000)[0]), Some("mt"));
}

#[test]
fn returning_customer_goes_back_to_their_last_agent() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("a", &["en"], &[]), T0);
    online(&mut r, agent("b", &["en"], &[]), T0);
    let first = r.route(ticket("t1", "en", &[]), T0).unwrap();
    let who = assigned_to(&first).unwrap().to_string();
    r.complete("t1", T0 + 10).unwrap();
    // The other agent is now the longer idle one, but the customer sticks.
    let mut again = ticket("t2", "en", &[]);
    again.customer_id = "cust-t1".into();
    let o = r.route(again, T0 + 20).unwrap();
    assert_eq!(assigned_to(&o), Some(who.as_str()));
    let Outcome::Assigned { decision, .. } = o else {
        panic!()
    };
    assert!(decision.candidates[0].sticky);
}

#[test]
fn longest_idle_agent_is_preferred_by_default() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("a", &["en"], &[]), T0);
    online(&mut r, agent("b", &["en"], &[]), T0);
    // a works at T0, b at T0 + 100 s; both finish; a has been idle longer.
    r.route(ticket("x", "en", &[]), T0).unwrap();
    let first = r.agent("a").unwrap().last_assigned_ms > 0;
    let (early, late) = if first { ("a", "b") } else { ("b", "a") };
    r.route(ticket("y", "en", &[]), T0 + 100_000).unwrap();
    assert!(r.agent(late).unwrap().last_assigned_ms > r.agent(early).unwrap().last_assigned_ms);
    r.complete("x", T0 + 100_001).unwrap();
    r.complete("y", T0 + 100_002).unwrap();
    let o = r.route(ticket("z", "en", &[]), T0 + 200_000).unwrap();
    assert_eq!(assigned_to(&o), Some(early));
}

#[test]
fn expertise_similarity_breaks_ties_sensibly() {
    let enc = common::encoder();
    let mut r = Router::new(RouterConfig::default());
    let specs = [
        (
            "lights",
            "LED strips, lamps, power supplies and lighting installation",
        ),
        (
            "customs",
            "import duties, VAT, HS codes and customs clearance paperwork",
        ),
        ("payments", "card payments, PayPal, refunds and bank transfers"),
    ];
    for (id, text) in specs {
        let mut a = agent(id, &["en"], &[]);
        a.expertise = text.into();
        let v = enc.embed(&[text]).unwrap().remove(0);
        r.upsert_agent(a, Some(v), T0).unwrap();
        r.set_presence(id, Presence::Online, T0).unwrap();
    }
    let cases = [
        (
            "my parcel is held by customs and they want the import tax paid",
            "customs",
        ),
        ("the LED strip gets dim at the far end", "lights"),
        ("my card payment was declined twice", "payments"),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let mut t = ticket(&format!("t{i}"), "en", &[]);
        t.vector = Some(enc.embed(&[text]).unwrap().remove(0));
        let o = r.route(t, T0 + 1).unwrap();
        assert_eq!(assigned_to(&o), Some(*want), "{text}");
        r.complete(&format!("t{i}"), T0 + 2).unwrap();
    }
}

#[test]
fn transfer_moves_a_ticket_and_refuses_an_ineligible_target() {
    let mut r = Router::new(RouterConfig::default());
    online(&mut r, agent("a", &["en"], &[]), T0);
    online(&mut r, agent("b", &["en"], &[]), T0);
    r.upsert_agent(agent("off", &["en"], &[]), None, T0).unwrap();
    let o = r.route(ticket("t", "en", &[]), T0).unwrap();
    let from = assigned_to(&o).unwrap().to_string();
    let err = r.transfer("t", Some("off"), T0 + 1).unwrap_err();
    assert!(matches!(err, RouteError::NotEligible { .. }), "{err}");
    assert_eq!(
        r.state().assignments["t"].agent,
        from,
        "a refused transfer changes nothing"
    );
    let moved = r.transfer("t", None, T0 + 2).unwrap();
    let to = assigned_to(&moved[0]).unwrap();
    assert_ne!(to, from);
    assert_eq!(r.agent(&from).unwrap().open.len(), 0);
}

#[test]
fn bad_input_is_rejected_precisely() {
    let mut r = Router::new(RouterConfig::default());
    let mut a = agent("a", &["en"], &[("logistics", 6)]);
    assert!(matches!(
        r.upsert_agent(a.clone(), None, T0),
        Err(RouteError::InvalidAgent { .. })
    ));
    a.skills.clear();
    a.capacity.insert("chat".into(), 10_000);
    let e = r.upsert_agent(a.clone(), None, T0).unwrap_err();
    assert!(e.to_string().contains("absurd"), "{e}");
    a.capacity.insert("chat".into(), 2);
    online(&mut r, a, T0);
    assert_eq!(
        r.set_presence("ghost", Presence::Online, T0),
        Err(RouteError::UnknownAgent("ghost".into()))
    );
    assert!(matches!(
        r.complete("nope", T0),
        Err(RouteError::UnknownTicket(_))
    ));
    let bad = ticket("t", "en", &[("logistics", 0)]);
    assert!(matches!(r.route(bad, T0), Err(RouteError::InvalidTicket { .. })));
    r.route(ticket("t", "en", &[]), T0).unwrap();
    assert_eq!(
        r.route(ticket("t", "en", &[]), T0),
        Err(RouteError::DuplicateTicket("t".into()))
    );
}

#[test]
fn no_agent_is_ever_over_capacity_under_concurrent_route_and_complete() {
    use std::sync::{Arc, Mutex};
    let r = Arc::new(Mutex::new(Router::new(RouterConfig::default())));
    for i in 0..5 {
        let mut a = agent(&format!("a{i}"), &["en"], &[]);
        a.capacity.insert("chat".into(), 1 + i % 3);
        online(&mut r.lock().unwrap(), a, T0);
    }
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let r = r.clone();
            std::thread::spawn(move || {
                let mut x: u64 = 0x9E37_79B9 ^ w;
                for i in 0..500 {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let mut g = r.lock().unwrap();
                    let now = T0 + i;
                    if x.is_multiple_of(3) {
                        let open: Vec<String> = g.state().assignments.keys().cloned().collect();
                        if let Some(t) = open.get((x as usize / 3) % open.len().max(1)) {
                            g.complete(t, now).unwrap();
                        }
                    } else {
                        let _ = g.route(ticket(&format!("w{w}-{i}"), "en", &[]), now).unwrap();
                    }
                    for a in g.state().agents.values() {
                        let load = a.load.get("chat").copied().unwrap_or(0);
                        assert!(load <= a.spec.capacity["chat"], "{} holds {load}", a.spec.id);
                        assert_eq!(load as usize, a.open.len());
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn restart_recovers_the_exact_state_from_snapshot_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = RouterConfig::default();
    let expected = {
        let mut d = DurableRouter::open(dir.path(), cfg.clone(), FsyncPolicy::Always).unwrap();
        d.snapshot_every = 7; // force a snapshot in the middle
        for i in 0..3 {
            let a = agent(&format!("a{i}"), &["en", "zh"], &[("logistics", 3)]);
            d.execute(Command::UpsertAgent {
                spec: a,
                vector: Some(vec![0.5; 4]),
                now_ms: T0,
            })
            .unwrap();
            d.execute(Command::SetPresence {
                id: format!("a{i}"),
                presence: Presence::Online,
                now_ms: T0,
            })
            .unwrap();
        }
        for i in 0..10 {
            let t = ticket(
                &format!("t{i}"),
                if i % 2 == 0 { "en" } else { "zh" },
                &[("logistics", 2)],
            );
            d.execute(Command::Route {
                ticket: t,
                now_ms: T0 + i,
            })
            .unwrap();
        }
        d.execute(Command::Complete {
            ticket: "t1".into(),
            now_ms: T0 + 20,
        })
        .unwrap();
        d.execute(Command::Tick { now_ms: T0 + 40_000 }).unwrap();
        assert!(
            !d.router().state().queue.is_empty(),
            "some tickets should be waiting"
        );
        d.router().state().clone()
        // dropped without any shutdown step
    };
    let d = DurableRouter::open(dir.path(), cfg.clone(), FsyncPolicy::Always).unwrap();
    assert_eq!(d.router().state(), &expected);

    // A torn last record: the tail is dropped, everything before it survives.
    drop(d);
    let log = dir.path().join("routing.wal");
    let before = {
        let mut d = DurableRouter::open(dir.path(), cfg.clone(), FsyncPolicy::Always).unwrap();
        d.execute(Command::Route {
            ticket: ticket("last", "en", &[]),
            now_ms: T0 + 50_000,
        })
        .unwrap();
        d.router().state().clone()
    };
    let len = std::fs::metadata(&log).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let d = DurableRouter::open(dir.path(), cfg, FsyncPolicy::Always).unwrap();
    assert_eq!(d.router().state(), &expected);
    assert_ne!(d.router().state(), &before);
}

#[test]
fn failed_commands_are_not_logged() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::EveryN(10)).unwrap();
    assert!(
        d.execute(Command::Complete {
            ticket: "nope".into(),
            now_ms: T0
        })
        .is_err()
    );
    drop(d);
    assert_eq!(
        std::fs::metadata(dir.path().join("routing.wal")).unwrap().len(),
        0
    );
}

#[test]
fn sample_roster_routes_scenarios_to_the_right_team() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets");
    let enc = common::encoder();
    let mut r = Router::new(RouterConfig::default());
    let roster = std::fs::read_to_string(root.join("agents.jsonl")).unwrap();
    let specs: Vec<AgentSpec> = roster.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(specs.len() >= 60);
    let texts: Vec<&str> = specs.iter().map(|s| s.expertise.as_str()).collect();
    let vectors = enc.embed(&texts).unwrap();
    for (spec, v) in specs.into_iter().zip(vectors) {
        let id = spec.id.clone();
        r.upsert_agent(spec, Some(v), T0).unwrap();
        r.set_presence(&id, Presence::Online, T0).unwrap();
    }
    let scenarios = std::fs::read_to_string(root.join("routing_scenarios.jsonl")).unwrap();
    for line in scenarios.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut t: Ticket = serde_json::from_value(v["ticket"].clone()).unwrap();
        t.vector = Some(enc.embed(&[&t.text]).unwrap().remove(0));
        let want = v["expect_team"].as_str().unwrap();
        let o = r.route(t.clone(), T0 + 1).unwrap();
        let got = assigned_to(&o).unwrap_or("(queued)").to_string();
        assert!(
            got.starts_with(&format!("ag-{want}-")),
            "{}: got {got}, want team {want}",
            t.text
        );
        r.complete(&t.id, T0 + 2).unwrap();
    }
}

/// Many commands in a row on a small desk with a xorshift generator: every decision a plan
/// makes after its own earlier effects (a tick, an agent pulling tickets) is the decision a
/// router with those effects applied would make, and applying the plan keeps the columns in
/// step with the state (a router rebuilt from the state decides the same).
#[test]
fn every_decision_in_a_plan_matches_a_router_with_the_earlier_effects_applied() {
    use kefu_engine::route::Effect;
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let langs = ["en", "zh", "de"];
    let skills = ["returns", "customs", "payments"];
    let cfg = RouterConfig::default();
    let mut r = Router::new(cfg.clone());
    let mut now = T0;
    let (mut checked, mut after_own_effects) = (0, 0);
    for step in 0..2000 {
        now += next(20_000);
        let spec_for = |id: String, next: &mut dyn FnMut(u64) -> u64| {
            let mut a = agent(
                &id,
                &[langs[next(3) as usize]],
                &[(skills[next(3) as usize], 1 + next(5) as u8)],
            );
            a.capacity.insert("chat".into(), 1 + next(2) as u32);
            a.translation = next(4) == 0;
            if next(3) == 0 {
                a.tiers.push(Tier::Vip);
            }
            a
        };
        let open: Vec<String> = r.state().assignments.keys().cloned().collect();
        let waiting: Vec<String> = r.state().queue.keys().cloned().collect();
        let agents: Vec<String> = r.state().agents.keys().cloned().collect();
        let pick = |v: &[String], i: u64| v.get(i as usize % v.len().max(1)).cloned();
        let command = match next(9) {
            0 | 1 => {
                let id = format!("a{}", next(10));
                let v = (0..4).map(|_| next(100) as f32 / 100.0).collect();
                Command::UpsertAgent {
                    spec: spec_for(id, &mut next),
                    vector: Some(v),
                    now_ms: now,
                }
            }
            2 => match pick(&agents, next(100)) {
                Some(id) => Command::SetPresence {
                    id,
                    presence: [Presence::Online, Presence::Online, Presence::Away][next(3) as usize],
                    now_ms: now,
                },
                None => Command::Tick { now_ms: now },
            },
            3 | 4 => {
                let mut t = ticket(
                    &format!("t{step}"),
                    langs[next(3) as usize],
                    &[(skills[next(3) as usize], 1 + next(5) as u8)],
                );
                t.customer_id = format!("c{}", next(6));
                t.priority = next(10) as u8;
                t.vector = Some((0..4).map(|_| next(100) as f32 / 100.0).collect());
                if next(4) == 0 {
                    t.tier = Tier::Vip;
                }
                Command::Route {
                    ticket: t,
                    now_ms: now,
                }
            }
            5 => match pick(&open, next(100)).or_else(|| pick(&waiting, next(100))) {
                Some(ticket) => Command::Complete { ticket, now_ms: now },
                None => Command::Tick { now_ms: now },
            },
            6 => match pick(&open, next(100)) {
                Some(ticket) => Command::Transfer {
                    ticket,
                    to: None,
                    now_ms: now,
                },
                None => Command::Tick { now_ms: now },
            },
            7 if next(4) == 0 => match pick(&agents, next(100)) {
                Some(id) => Command::RemoveAgent { id, now_ms: now },
                None => Command::Tick { now_ms: now },
            },
            _ => Command::Tick { now_ms: now },
        };
        let Ok(plan) = r.plan(&command) else {
            continue;
        };
        let transferred = match &command {
            Command::Transfer { ticket, .. } => Some(ticket.clone()),
            _ => None,
        };
        let mut assigned = plan.outcomes.iter().filter_map(|o| match o {
            Outcome::Assigned { assignment, decision } => Some((assignment, decision)),
            Outcome::Queued { .. } => None,
        });
        for (i, e) in plan.effects.iter().enumerate() {
            let Effect::Assigned { ticket, agent, .. } = e else {
                continue;
            };
            let (assignment, decision) = assigned.next().expect("an outcome per assignment");
            assert_eq!((&assignment.ticket.id, &assignment.agent), (ticket, agent));
            if transferred.as_ref() == Some(ticket) {
                continue; // a transfer's own decision excludes the current agent; preview cannot
            }
            let mut before = Router::from_state(r.state().clone(), cfg.clone());
            before.apply(&plan.effects[..i]);
            let t = &before.state().queue[ticket];
            assert_eq!(
                &before.preview(t, now).unwrap(),
                decision,
                "step {step}: {command:?}, effect {i}"
            );
            checked += 1;
            if plan.effects[..i]
                .iter()
                .any(|e| !matches!(e, Effect::Admitted { .. }))
            {
                after_own_effects += 1;
            }
        }
        assert_eq!(r.apply(&plan.effects), 0, "a fresh plan always fits");
        let rebuilt = Router::from_state(r.state().clone(), cfg.clone());
        let probe = ticket("probe", langs[next(3) as usize], &[(skills[next(3) as usize], 1)]);
        assert_eq!(
            r.preview(&probe, now).unwrap(),
            rebuilt.preview(&probe, now).unwrap()
        );
    }
    assert!(
        checked > 200 && after_own_effects > 150,
        "only {checked} decisions checked, {after_own_effects} after the plan's own effects"
    );
}

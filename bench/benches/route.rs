//! Routing decisions on a 10 000-agent desk with 100 skills: one decision
//! (dry run), and Route+Complete pairs (what a busy desk does all day).
//!
//! Baseline to beat: the budget, p99 ≤ 100 µs per decision.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hdrhistogram::Histogram;
use kefu_bench::Rng;
use kefu_engine::route::{AgentSpec, Presence, Router, RouterConfig, SkillNeed, Ticket, Tier};
use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

const AGENTS: usize = 10_000;
const SKILLS: usize = 100;
const LANGS: [&str; 8] = ["en", "zh", "es", "de", "fr", "pt", "ja", "ar"];
const DIM: usize = 384;

/// A random unit vector: an agent's expertise or a ticket's text.
fn unit(rng: &mut Rng) -> Vec<f32> {
    rng.near(&[0.0; DIM], 1.0)
}

fn desk(rng: &mut Rng) -> Router {
    let mut r = Router::new(RouterConfig::default());
    for i in 0..AGENTS {
        let mut skills = BTreeMap::new();
        for _ in 0..6 {
            skills.insert(format!("skill-{:02}", rng.below(SKILLS)), 1 + rng.below(5) as u8);
        }
        let mut languages = vec!["en".to_string()];
        languages.push(LANGS[rng.below(LANGS.len())].to_string());
        let spec = AgentSpec {
            id: format!("agent-{i:05}"),
            name: String::new(),
            languages,
            skills,
            expertise: String::new(),
            tiers: if i.is_multiple_of(5) {
                vec![Tier::Standard, Tier::Vip]
            } else {
                vec![Tier::Standard]
            },
            capacity: BTreeMap::from([("chat".to_string(), 3), ("email".to_string(), 5)]),
            translation: i.is_multiple_of(10),
        };
        let id = spec.id.clone();
        r.upsert_agent(spec, Some(unit(rng)), 1).unwrap();
        r.set_presence(
            &id,
            if i.is_multiple_of(4) {
                Presence::Away
            } else {
                Presence::Online
            },
            1,
        )
        .unwrap();
    }
    r
}

fn tickets(rng: &mut Rng, n: usize) -> Vec<Ticket> {
    (0..n)
        .map(|i| Ticket {
            id: format!("t{i}"),
            customer_id: format!("c{}", rng.below(50_000)),
            tier: if i.is_multiple_of(10) {
                Tier::Vip
            } else {
                Tier::Standard
            },
            language: LANGS[rng.below(3)].to_string(),
            channel: if i.is_multiple_of(3) { "email" } else { "chat" }.to_string(),
            category: String::new(),
            text: String::new(),
            vector: Some(unit(rng)),
            required: vec![SkillNeed {
                skill: format!("skill-{:02}", rng.below(SKILLS)),
                min_level: 1 + rng.below(3) as u8,
            }],
            additional: vec![],
            priority: rng.below(10) as u8,
            created_ms: 0,
            preferred_agent: None,
        })
        .collect()
}

fn route(c: &mut Criterion) {
    let mut rng = Rng(0x5EED);
    let mut router = desk(&mut rng);
    let ts = tickets(&mut rng, 2_000);

    let mut h = Histogram::<u64>::new(3).unwrap();
    let mut eligible = 0u64;
    for t in &ts {
        let start = Instant::now();
        let d = router.preview(t, 2_000).unwrap();
        h.record(start.elapsed().as_nanos() as u64).unwrap();
        eligible += d.eligible;
    }
    println!(
        "\nroute decision, {AGENTS} agents / {SKILLS} skills: p50 {:.1} µs, p99 {:.1} µs, mean eligible {}",
        h.value_at_quantile(0.5) as f64 / 1e3,
        h.value_at_quantile(0.99) as f64 / 1e3,
        eligible / ts.len() as u64
    );

    let mut g = c.benchmark_group("route");
    g.throughput(Throughput::Elements(1));
    let mut i = 0;
    g.bench_function("decision_10k_agents", |b| {
        b.iter(|| {
            i = (i + 1) % ts.len();
            black_box(router.preview(&ts[i], 2_000).unwrap())
        })
    });
    let mut i = 0;
    let mut now = 10_000u64;
    g.bench_function("route_then_complete_10k_agents", |b| {
        b.iter(|| {
            i = (i + 1) % ts.len();
            now += 1;
            let t = ts[i].clone();
            let id = t.id.clone();
            black_box(router.route(t, now).unwrap());
            black_box(router.complete(&id, now).unwrap());
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(50).measurement_time(std::time::Duration::from_secs(3));
    targets = route
}
criterion_main!(benches);

//! Who may take a ticket (a chain of bitset intersections, each step counted)
//! and who should (a weighted score with its parts, best five kept).
//!
//! A decision reads one or more column sets: the router's own, and during
//! planning also a small overlay holding the agents the plan has changed so
//! far (hidden from the router's columns). Rule counts add up and the best
//! five of the union are the best five of each part's best five, so the result
//! is the one the router would reach with the plan's earlier effects applied.

use super::columns::Columns;
use super::config::{Ring, RouterConfig};
use super::exclusion::ExclusionRule;
use super::model::{MAX_LEVEL, SkillNeed, Ticket};
use super::queue::ring_index;
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// How many agents one rule excluded, for auditing a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exclusion {
    pub rule: ExclusionRule,
    pub excluded: u64,
}

/// One eligible agent's score and its parts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub agent: String,
    pub score: f32,
    pub proficiency: f32,
    pub expertise: f32,
    pub idle: f32,
    pub spare: f32,
    pub sticky: bool,
}

/// Why a ticket went where it went: the ring used, the exclusions, the best candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    pub ring: usize,
    pub eligible: u64,
    pub excluded: Vec<Exclusion>,
    /// Best first, at most five.
    pub candidates: Vec<Candidate>,
}

/// Candidates a decision shows.
const SHOWN: usize = 5;

/// One column set a decision reads, minus the slots another part speaks for.
pub(super) struct Part<'a> {
    pub cols: &'a Columns,
    pub hidden: Option<&'a RoaringBitmap>,
}

/// The agents of one part left by the rule chain, and what every rule removed (zeros kept).
pub(super) struct Eligible {
    pub set: RoaringBitmap,
    pub removed: Vec<(ExclusionRule, u64)>,
}

/// The skills a ticket needs under a ring.
fn needs<'t>(t: &'t Ticket, ring: &Ring) -> impl Iterator<Item = &'t SkillNeed> {
    let additional = if ring.drop_additional {
        &[][..]
    } else {
        &t.additional[..]
    };
    t.required.iter().chain(additional)
}

/// Runs the rule chain over one part; `exclude` keeps one agent out (transfers).
pub(super) fn eligible(part: &Part, t: &Ticket, ring: &Ring, exclude: Option<&str>) -> Eligible {
    let b = part.cols;
    let empty = RoaringBitmap::new();
    let mut set = b.all.clone();
    if let Some(h) = part.hidden {
        set -= h;
    }
    let mut removed = Vec::new();
    let mut rule = |name: ExclusionRule, with: &RoaringBitmap, set: &mut RoaringBitmap| {
        let before = set.len();
        *set &= with;
        removed.push((name, before - set.len()));
    };
    rule(ExclusionRule::Presence, &b.online, &mut set);
    rule(
        ExclusionRule::Capacity {
            channel: t.channel.clone(),
        },
        b.spare.get(&t.channel).unwrap_or(&empty),
        &mut set,
    );
    let mut langs = b
        .lang
        .get(&t.language.to_ascii_lowercase())
        .cloned()
        .unwrap_or_default();
    if ring.allow_translation {
        langs |= &b.translation;
    }
    rule(
        ExclusionRule::Language {
            language: t.language.clone(),
        },
        &langs,
        &mut set,
    );
    if !ring.any_tier {
        rule(
            ExclusionRule::Tier(t.tier),
            b.tier.get(&t.tier).unwrap_or(&empty),
            &mut set,
        );
    }
    for need in needs(t, ring) {
        let level = need.min_level.saturating_sub(ring.lower_proficiency).max(1);
        let with = b
            .skill
            .get(&need.skill)
            .map(|l| &l[level as usize - 1])
            .unwrap_or(&empty);
        rule(
            ExclusionRule::Skill {
                skill: need.skill.clone(),
                level,
            },
            with,
            &mut set,
        );
    }
    let out = exclude
        .and_then(|x| b.slot.get(x))
        .is_some_and(|&s| set.remove(s));
    removed.push((ExclusionRule::TransferCurrentAgent, out as u64));
    Eligible { set, removed }
}

/// Scores every agent in `set`; the best five, best first.
fn score(
    cols: &Columns,
    set: &RoaringBitmap,
    t: &Ticket,
    ring: &Ring,
    now_ms: u64,
    cfg: &RouterConfig,
) -> Vec<Candidate> {
    let w = &cfg.weights;
    let b = cols;
    // Score every eligible agent without allocating; build Candidates for the top five only.
    let chan = b.chan.get(&t.channel);
    let levels: Vec<Option<&Vec<u8>>> = needs(t, ring).map(|n| b.level.get(&n.skill)).collect();
    let preferred = t.preferred_agent.as_deref().and_then(|p| b.slot.get(p)).copied();
    let query = t.vector.as_deref().filter(|q| q.len() == b.dim);
    let mut scored: Vec<(Candidate, u32)> = set
        .iter()
        .map(|s| {
            let i = s as usize;
            let proficiency = if levels.is_empty() {
                0.5
            } else {
                levels
                    .iter()
                    .map(|l| l.and_then(|l| l.get(i)).copied().unwrap_or(0) as f32)
                    .sum::<f32>()
                    / (levels.len() as f32 * MAX_LEVEL as f32)
            };
            let expertise = match query {
                Some(q) if b.has_vec[i] => crate::index::simd::dot(q, &b.vecs[i * b.dim..(i + 1) * b.dim]),
                _ => 0.0,
            };
            let idle = match b.last_assigned[i] {
                0 => 1.0,
                last => {
                    let secs = now_ms.saturating_sub(last) as f32 / 1000.0;
                    (secs / cfg.idle_saturation_secs.max(1) as f32).min(1.0)
                }
            };
            let (cap, load) = chan.and_then(|c| c.get(i)).copied().unwrap_or((0, 0));
            let spare = cap.saturating_sub(load) as f32 / cap.max(1) as f32;
            let sticky = preferred == Some(s);
            let score = w.proficiency * proficiency
                + w.expertise * expertise
                + w.idle * idle
                + w.spare * spare
                + if sticky { w.sticky } else { 0.0 };
            let c = Candidate {
                agent: String::new(),
                score,
                proficiency,
                expertise,
                idle,
                spare,
                sticky,
            };
            (c, s)
        })
        .collect();
    let ids = &b.ids;
    let best_first = |a: &(Candidate, u32), b: &(Candidate, u32)| {
        b.0.score
            .total_cmp(&a.0.score)
            .then_with(|| ids[a.1 as usize].cmp(&ids[b.1 as usize]))
    };
    if scored.len() > SHOWN {
        scored.select_nth_unstable_by(SHOWN - 1, best_first);
        scored.truncate(SHOWN);
    }
    scored.sort_by(best_first);
    scored
        .into_iter()
        .map(|(c, s)| Candidate {
            agent: ids[s as usize].clone(),
            ..c
        })
        .collect()
}

fn best_first(a: &Candidate, b: &Candidate) -> Ordering {
    b.score.total_cmp(&a.score).then_with(|| a.agent.cmp(&b.agent))
}

/// Decides a ticket over the given parts: its ring, who may take it, and the best five.
pub(super) fn decide(
    parts: &[Part],
    t: &Ticket,
    now_ms: u64,
    cfg: &RouterConfig,
    exclude: Option<&str>,
) -> Decision {
    let ring_i = ring_index(cfg, t, now_ms);
    let ring = &cfg.rings(&t.category)[ring_i];
    let mut eligible_n = 0;
    let mut removed: Vec<(ExclusionRule, u64)> = Vec::new();
    let mut candidates = Vec::new();
    for part in parts {
        let e = eligible(part, t, ring, exclude);
        eligible_n += e.set.len();
        if removed.is_empty() {
            removed = e.removed;
        } else {
            // Same ticket, same ring: every part runs the same rules in the same order.
            for (sum, (_, n)) in removed.iter_mut().zip(e.removed) {
                sum.1 += n;
            }
        }
        candidates.extend(score(part.cols, &e.set, t, ring, now_ms, cfg));
    }
    if parts.len() > 1 {
        candidates.sort_by(best_first);
        candidates.truncate(SHOWN);
    }
    Decision {
        ring: ring_i,
        eligible: eligible_n,
        excluded: removed
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(rule, excluded)| Exclusion { rule, excluded })
            .collect(),
        candidates,
    }
}

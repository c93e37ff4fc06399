//! The router: who may take a ticket (bitset intersections), who should
//! (a score with its reasons), and what waits when nobody may.

use super::RouteError;
use super::model::{AgentSpec, MAX_LEVEL, Presence, SkillNeed, Ticket, Tier};
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One bullseye ring: from `after_secs` of waiting, these requirements relax.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ring {
    pub after_secs: u64,
    /// Additional (nice-to-have) skills are no longer required.
    #[serde(default)]
    pub drop_additional: bool,
    /// Minimum proficiency levels drop by this much (never below 1).
    #[serde(default)]
    pub lower_proficiency: u8,
    /// Agents marked as using translation become eligible for any language.
    #[serde(default)]
    pub allow_translation: bool,
    /// Agents of any tier may take the ticket.
    #[serde(default)]
    pub any_tier: bool,
}

/// How much each factor counts in an eligible agent's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Weights {
    pub proficiency: f32,
    pub expertise: f32,
    pub idle: f32,
    pub spare: f32,
    pub sticky: f32,
}

impl Default for Weights {
    fn default() -> Self {
        Self {
            proficiency: 1.0,
            expertise: 1.0,
            idle: 0.5,
            spare: 0.3,
            sticky: 0.6,
        }
    }
}

/// Rings per category and scoring weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterConfig {
    /// Rings for categories without their own; ring 0 should start at 0 s.
    pub default_rings: Vec<Ring>,
    #[serde(default)]
    pub rings: BTreeMap<String, Vec<Ring>>,
    #[serde(default)]
    pub weights: Weights,
    /// Idle time at which the idle factor saturates.
    pub idle_saturation_secs: u64,
}

impl Default for RouterConfig {
    fn default() -> Self {
        Self {
            default_rings: vec![
                Ring {
                    after_secs: 0,
                    drop_additional: false,
                    lower_proficiency: 0,
                    allow_translation: false,
                    any_tier: false,
                },
                Ring {
                    after_secs: 30,
                    drop_additional: true,
                    lower_proficiency: 0,
                    allow_translation: false,
                    any_tier: false,
                },
                Ring {
                    after_secs: 60,
                    drop_additional: true,
                    lower_proficiency: 1,
                    allow_translation: false,
                    any_tier: false,
                },
                Ring {
                    after_secs: 120,
                    drop_additional: true,
                    lower_proficiency: 2,
                    allow_translation: true,
                    any_tier: true,
                },
            ],
            rings: BTreeMap::new(),
            weights: Weights::default(),
            idle_saturation_secs: 600,
        }
    }
}

/// An agent's live state: the spec plus presence, load and open tickets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentView {
    pub spec: AgentSpec,
    pub presence: Presence,
    pub load: BTreeMap<String, u32>,
    /// 0 = never assigned.
    pub last_assigned_ms: u64,
    pub open: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
}

impl AgentView {
    fn spare(&self, channel: &str) -> u32 {
        let cap = self.spec.capacity.get(channel).copied().unwrap_or(0);
        cap.saturating_sub(self.load.get(channel).copied().unwrap_or(0))
    }
}

/// A ticket with an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    pub ticket: Ticket,
    pub agent: String,
    pub assigned_ms: u64,
}

/// How many agents one rule excluded, for auditing a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Exclusion {
    pub rule: String,
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

/// What happened to a routed ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    Assigned {
        ticket: String,
        agent: String,
        decision: Decision,
    },
    Queued {
        ticket: String,
        position: usize,
        ring: usize,
        decision: Decision,
    },
}

/// A waiting ticket as GetQueue shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedTicket {
    pub ticket: Ticket,
    pub position: usize,
    pub ring: usize,
    pub waited_ms: u64,
}

/// Everything the router must not lose: what snapshots and the log restore.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RouterState {
    pub agents: BTreeMap<String, AgentView>,
    pub assignments: BTreeMap<String, Assignment>,
    pub queue: BTreeMap<String, Ticket>,
    /// Customer → the agent who last served them (sticky routing).
    pub last_agent: BTreeMap<String, String>,
}

/// Bitsets over agent slots, derived from the state and kept in step with it.
#[derive(Default)]
struct Bitsets {
    slot: HashMap<String, u32>,
    ids: Vec<String>,
    all: RoaringBitmap,
    online: RoaringBitmap,
    translation: RoaringBitmap,
    lang: HashMap<String, RoaringBitmap>,
    tier: HashMap<Tier, RoaringBitmap>,
    /// skill → agents with level ≥ i+1 at index i.
    skill: HashMap<String, [RoaringBitmap; MAX_LEVEL as usize]>,
    /// channel → agents with spare capacity on it.
    spare: HashMap<String, RoaringBitmap>,
    // Scoring inputs laid out by slot, so a decision over hundreds of
    // eligible agents reads contiguous arrays instead of chasing map nodes.
    /// channel → (capacity, load) per slot.
    chan: HashMap<String, Vec<(u32, u32)>>,
    /// skill → proficiency per slot (0 = lacks it).
    level: HashMap<String, Vec<u8>>,
    last_assigned: Vec<u64>,
    /// Expertise vectors, `dim` floats per slot (zeros where `has_vec` is false).
    vecs: Vec<f32>,
    has_vec: Vec<bool>,
    dim: usize,
}

impl Bitsets {
    fn slot_of(&mut self, id: &str) -> u32 {
        if let Some(&s) = self.slot.get(id) {
            return s;
        }
        let s = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.slot.insert(id.to_string(), s);
        s
    }

    fn clear(&mut self, s: u32) {
        for per_slot in self.chan.values_mut() {
            if let Some(x) = per_slot.get_mut(s as usize) {
                *x = (0, 0);
            }
        }
        for per_slot in self.level.values_mut() {
            if let Some(x) = per_slot.get_mut(s as usize) {
                *x = 0;
            }
        }
        if let Some(h) = self.has_vec.get_mut(s as usize) {
            *h = false;
        }
        self.all.remove(s);
        self.online.remove(s);
        self.translation.remove(s);
        for b in self.lang.values_mut() {
            b.remove(s);
        }
        for b in self.tier.values_mut() {
            b.remove(s);
        }
        for levels in self.skill.values_mut() {
            for b in levels.iter_mut() {
                b.remove(s);
            }
        }
        for b in self.spare.values_mut() {
            b.remove(s);
        }
    }

    fn set(&mut self, a: &AgentView) {
        let s = self.slot_of(&a.spec.id);
        self.clear(s);
        self.all.insert(s);
        if a.presence == Presence::Online {
            self.online.insert(s);
        }
        if a.spec.translation {
            self.translation.insert(s);
        }
        for l in &a.spec.languages {
            self.lang.entry(l.to_ascii_lowercase()).or_default().insert(s);
        }
        for t in &a.spec.tiers {
            self.tier.entry(*t).or_default().insert(s);
        }
        for (skill, &level) in &a.spec.skills {
            let levels = self.skill.entry(skill.clone()).or_default();
            for b in levels.iter_mut().take(level as usize) {
                b.insert(s);
            }
        }
        let n = self.ids.len();
        for (skill, &level) in &a.spec.skills {
            let per_slot = self.level.entry(skill.clone()).or_default();
            per_slot.resize(n, 0);
            per_slot[s as usize] = level;
        }
        self.has_vec.resize(n, false);
        if let Some(v) = &a.vector {
            if self.dim == 0 {
                self.dim = v.len();
            }
            if v.len() == self.dim {
                self.vecs.resize(n * self.dim, 0.0);
                self.vecs[s as usize * self.dim..(s as usize + 1) * self.dim].copy_from_slice(v);
                self.has_vec[s as usize] = true;
            }
        }
        self.set_spare(a);
    }

    /// Refreshes the slot's load-dependent inputs after an assignment or release.
    fn set_spare(&mut self, a: &AgentView) {
        let s = self.slot[&a.spec.id] as usize;
        let n = self.ids.len();
        self.last_assigned.resize(n, 0);
        self.last_assigned[s] = a.last_assigned_ms;
        for (channel, &cap) in &a.spec.capacity {
            let per_slot = self.chan.entry(channel.clone()).or_default();
            per_slot.resize(n, (0, 0));
            per_slot[s] = (cap, a.load.get(channel).copied().unwrap_or(0));
        }
        let s = s as u32;
        for channel in a.spec.capacity.keys() {
            let b = self.spare.entry(channel.clone()).or_default();
            if a.spare(channel) > 0 {
                b.insert(s);
            } else {
                b.remove(s);
            }
        }
    }
}

/// The routing state machine.
pub struct Router {
    state: RouterState,
    cfg: RouterConfig,
    bits: Bitsets,
}

impl Router {
    pub fn new(cfg: RouterConfig) -> Self {
        Self::from_state(RouterState::default(), cfg)
    }

    /// Rebuilds the bitsets of a recovered state.
    pub fn from_state(state: RouterState, mut cfg: RouterConfig) -> Self {
        // Every category needs a ring 0 that applies from the first second.
        let strict = Ring {
            after_secs: 0,
            drop_additional: false,
            lower_proficiency: 0,
            allow_translation: false,
            any_tier: false,
        };
        for rings in std::iter::once(&mut cfg.default_rings).chain(cfg.rings.values_mut()) {
            rings.sort_by_key(|r| r.after_secs);
            if rings.first().is_none_or(|r| r.after_secs > 0) {
                rings.insert(0, strict.clone());
            }
        }
        let mut bits = Bitsets::default();
        for a in state.agents.values() {
            bits.set(a);
        }
        Self { state, cfg, bits }
    }

    pub fn state(&self) -> &RouterState {
        &self.state
    }

    pub fn config(&self) -> &RouterConfig {
        &self.cfg
    }

    pub fn agent(&self, id: &str) -> Result<&AgentView, RouteError> {
        self.state
            .agents
            .get(id)
            .ok_or_else(|| RouteError::UnknownAgent(id.to_string()))
    }

    /// Adds or replaces an agent; load, presence and open tickets carry over.
    /// New agents start offline. Returns tickets the change let them take.
    pub fn upsert_agent(
        &mut self,
        spec: AgentSpec,
        vector: Option<Vec<f32>>,
        now_ms: u64,
    ) -> Result<Vec<Outcome>, RouteError> {
        spec.validate()?;
        let view = match self.state.agents.remove(&spec.id) {
            Some(old) => AgentView {
                spec,
                vector: vector.or(old.vector),
                ..old
            },
            None => AgentView {
                spec,
                presence: Presence::Offline,
                load: BTreeMap::new(),
                last_assigned_ms: 0,
                open: BTreeSet::new(),
                vector,
            },
        };
        let id = view.spec.id.clone();
        self.bits.set(&view);
        self.state.agents.insert(id.clone(), view);
        Ok(self.pull_for(&id, now_ms))
    }

    /// Removes an agent; its open tickets go back to the queue (and may be routed at once).
    pub fn remove_agent(&mut self, id: &str, now_ms: u64) -> Result<Vec<Outcome>, RouteError> {
        let view = self
            .state
            .agents
            .remove(id)
            .ok_or_else(|| RouteError::UnknownAgent(id.to_string()))?;
        let s = self.bits.slot[id];
        self.bits.clear(s);
        for t in &view.open {
            if let Some(a) = self.state.assignments.remove(t) {
                self.state.queue.insert(t.clone(), a.ticket);
            }
        }
        Ok(self.tick(now_ms))
    }

    /// Changes presence; an agent coming online takes waiting tickets at once.
    pub fn set_presence(
        &mut self,
        id: &str,
        presence: Presence,
        now_ms: u64,
    ) -> Result<Vec<Outcome>, RouteError> {
        let view = self
            .state
            .agents
            .get_mut(id)
            .ok_or_else(|| RouteError::UnknownAgent(id.to_string()))?;
        view.presence = presence;
        let view = view.clone();
        self.bits.set(&view);
        Ok(self.pull_for(id, now_ms))
    }

    /// Assigns a ticket to the best eligible agent, or queues it.
    pub fn route(&mut self, mut ticket: Ticket, now_ms: u64) -> Result<Outcome, RouteError> {
        ticket.validate()?;
        if self.state.assignments.contains_key(&ticket.id) || self.state.queue.contains_key(&ticket.id) {
            return Err(RouteError::DuplicateTicket(ticket.id));
        }
        if ticket.created_ms == 0 {
            ticket.created_ms = now_ms;
        }
        if ticket.preferred_agent.is_none() {
            ticket.preferred_agent = self.state.last_agent.get(&ticket.customer_id).cloned();
        }
        Ok(self.place(ticket, now_ms, None))
    }

    /// What routing this ticket now would decide, without changing anything (dry run, audit).
    pub fn preview(&self, ticket: &Ticket, now_ms: u64) -> Result<Decision, RouteError> {
        ticket.validate()?;
        Ok(self.decide(ticket, now_ms, None))
    }

    /// Assigns or queues a validated ticket; `exclude` keeps one agent out (transfers).
    fn place(&mut self, ticket: Ticket, now_ms: u64, exclude: Option<&str>) -> Outcome {
        let decision = self.decide(&ticket, now_ms, exclude);
        if let Some(best) = decision.candidates.first() {
            let agent = best.agent.clone();
            let id = ticket.id.clone();
            self.assign(ticket, &agent, now_ms);
            Outcome::Assigned {
                ticket: id,
                agent,
                decision,
            }
        } else {
            let id = ticket.id.clone();
            let ring = decision.ring;
            self.state.queue.insert(id.clone(), ticket);
            let position = self
                .queue_order(now_ms)
                .iter()
                .position(|t| *t == id)
                .unwrap_or(0)
                + 1;
            Outcome::Queued {
                ticket: id,
                position,
                ring,
                decision,
            }
        }
    }

    /// Frees the agent's capacity; the agent takes the best waiting ticket it can.
    pub fn complete(&mut self, ticket: &str, now_ms: u64) -> Result<Vec<Outcome>, RouteError> {
        if self.state.queue.remove(ticket).is_some() {
            return Ok(Vec::new());
        }
        let a = self.release(ticket)?;
        Ok(self.pull_for(&a.agent, now_ms))
    }

    /// Moves an open ticket to `to` (which must be able to take it), or, with
    /// `None`, re-routes it to anyone but its current agent.
    pub fn transfer(
        &mut self,
        ticket: &str,
        to: Option<&str>,
        now_ms: u64,
    ) -> Result<Vec<Outcome>, RouteError> {
        let current = self
            .state
            .assignments
            .get(ticket)
            .ok_or_else(|| RouteError::UnknownTicket(ticket.to_string()))?
            .clone();
        if let Some(target) = to {
            let view = self.agent(target)?;
            let reason = if view.presence != Presence::Online {
                Some("agent is not online".to_string())
            } else if view.spare(&current.ticket.channel) == 0 {
                Some(format!("no spare capacity on {}", current.ticket.channel))
            } else if target == current.agent {
                Some("ticket is already with this agent".into())
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(RouteError::NotEligible {
                    agent: target.to_string(),
                    ticket: ticket.to_string(),
                    reason,
                });
            }
        }
        let a = self.release(ticket)?;
        let mut out = Vec::new();
        match to {
            Some(target) => {
                let id = a.ticket.id.clone();
                self.assign(a.ticket, target, now_ms);
                out.push(Outcome::Assigned {
                    ticket: id,
                    agent: target.to_string(),
                    decision: Decision {
                        ring: 0,
                        eligible: 1,
                        excluded: vec![],
                        candidates: vec![],
                    },
                });
            }
            None => out.push(self.place(a.ticket, now_ms, Some(&current.agent))),
        }
        out.extend(self.pull_for(&current.agent, now_ms));
        Ok(out)
    }

    /// Re-examines waiting tickets whose rings have widened; assigns what it can.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Outcome> {
        let mut out = Vec::new();
        for id in self.queue_order(now_ms) {
            let Some(ticket) = self.state.queue.get(&id) else {
                continue;
            };
            let decision = self.decide(ticket, now_ms, None);
            if let Some(best) = decision.candidates.first() {
                let agent = best.agent.clone();
                let ticket = self.state.queue.remove(&id).expect("present");
                self.assign(ticket, &agent, now_ms);
                out.push(Outcome::Assigned {
                    ticket: id,
                    agent,
                    decision,
                });
            }
        }
        out
    }

    /// Waiting tickets, most urgent first.
    pub fn queue(&self, now_ms: u64) -> Vec<QueuedTicket> {
        self.queue_order(now_ms)
            .into_iter()
            .enumerate()
            .map(|(i, id)| {
                let t = &self.state.queue[&id];
                QueuedTicket {
                    ring: self.ring_index(t, now_ms),
                    waited_ms: now_ms.saturating_sub(t.created_ms),
                    position: i + 1,
                    ticket: t.clone(),
                }
            })
            .collect()
    }

    // --- internals ---------------------------------------------------------

    fn rings(&self, category: &str) -> &[Ring] {
        self.cfg.rings.get(category).unwrap_or(&self.cfg.default_rings)
    }

    fn ring_index(&self, t: &Ticket, now_ms: u64) -> usize {
        let waited = now_ms.saturating_sub(t.created_ms) / 1000;
        self.rings(&t.category)
            .iter()
            .rposition(|r| r.after_secs <= waited)
            .unwrap_or(0)
    }

    /// Urgency: VIP first, then priority, then one point per minute waited; ties by age, then id.
    fn queue_order(&self, now_ms: u64) -> Vec<String> {
        let mut v: Vec<(u64, u64, &String)> = self
            .state
            .queue
            .iter()
            .map(|(id, t)| {
                let waited_min = now_ms.saturating_sub(t.created_ms) / 60_000;
                let urgency = if t.tier == Tier::Vip { 20 } else { 0 } + t.priority as u64 + waited_min;
                (urgency, t.created_ms, id)
            })
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
        v.into_iter().map(|x| x.2.clone()).collect()
    }

    /// The eligible set under the ticket's ring, and what each rule excluded.
    fn eligible(&self, t: &Ticket, ring: &Ring, exclude: Option<&str>) -> (RoaringBitmap, Vec<Exclusion>) {
        let empty = RoaringBitmap::new();
        let mut set = self.bits.all.clone();
        let mut excluded = Vec::new();
        let mut apply = |rule: String, with: &RoaringBitmap, set: &mut RoaringBitmap| {
            let before = set.len();
            *set &= with;
            if before > set.len() {
                excluded.push(Exclusion {
                    rule,
                    excluded: before - set.len(),
                });
            }
        };
        apply("presence".into(), &self.bits.online, &mut set);
        apply(
            format!("capacity:{}", t.channel),
            self.bits.spare.get(&t.channel).unwrap_or(&empty),
            &mut set,
        );
        let mut langs = self
            .bits
            .lang
            .get(&t.language.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        if ring.allow_translation {
            langs |= &self.bits.translation;
        }
        apply(format!("language:{}", t.language), &langs, &mut set);
        if !ring.any_tier {
            apply(
                format!("tier:{:?}", t.tier).to_lowercase(),
                self.bits.tier.get(&t.tier).unwrap_or(&empty),
                &mut set,
            );
        }
        let needs = t.required.iter().chain(if ring.drop_additional {
            &[][..]
        } else {
            &t.additional[..]
        });
        for need in needs {
            let level = need.min_level.saturating_sub(ring.lower_proficiency).max(1);
            let with = self
                .bits
                .skill
                .get(&need.skill)
                .map(|l| &l[level as usize - 1])
                .unwrap_or(&empty);
            apply(format!("skill:{}>={level}", need.skill), with, &mut set);
        }
        if let Some(x) = exclude
            && let Some(&s) = self.bits.slot.get(x)
            && set.remove(s)
        {
            excluded.push(Exclusion {
                rule: "transfer:current-agent".into(),
                excluded: 1,
            });
        }
        (set, excluded)
    }

    /// Scores every eligible agent; best first.
    fn decide(&self, t: &Ticket, now_ms: u64, exclude: Option<&str>) -> Decision {
        let ring_i = self.ring_index(t, now_ms);
        let ring = &self.rings(&t.category)[ring_i];
        let (set, excluded) = self.eligible(t, ring, exclude);
        let w = &self.cfg.weights;
        let needs: Vec<&SkillNeed> = t
            .required
            .iter()
            .chain(if ring.drop_additional {
                &[][..]
            } else {
                &t.additional[..]
            })
            .collect();
        // Score every eligible agent without allocating; build Candidates for the top five only.
        let b = &self.bits;
        let chan = b.chan.get(&t.channel);
        let levels: Vec<Option<&Vec<u8>>> = needs.iter().map(|n| b.level.get(&n.skill)).collect();
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
                    Some(q) if b.has_vec[i] => {
                        crate::index::simd::dot(q, &b.vecs[i * b.dim..(i + 1) * b.dim])
                    }
                    _ => 0.0,
                };
                let idle = match b.last_assigned[i] {
                    0 => 1.0,
                    last => {
                        let secs = now_ms.saturating_sub(last) as f32 / 1000.0;
                        (secs / self.cfg.idle_saturation_secs.max(1) as f32).min(1.0)
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
                (
                    Candidate {
                        agent: String::new(),
                        score,
                        proficiency,
                        expertise,
                        idle,
                        spare,
                        sticky,
                    },
                    s,
                )
            })
            .collect();
        let ids = &self.bits.ids;
        let best_first = |a: &(Candidate, u32), b: &(Candidate, u32)| {
            b.0.score
                .total_cmp(&a.0.score)
                .then_with(|| ids[a.1 as usize].cmp(&ids[b.1 as usize]))
        };
        const SHOWN: usize = 5;
        if scored.len() > SHOWN {
            scored.select_nth_unstable_by(SHOWN - 1, best_first);
            scored.truncate(SHOWN);
        }
        scored.sort_by(best_first);
        let scored: Vec<Candidate> = scored
            .into_iter()
            .map(|(c, s)| Candidate {
                agent: ids[s as usize].clone(),
                ..c
            })
            .collect();
        Decision {
            ring: ring_i,
            eligible: set.len(),
            excluded,
            candidates: scored,
        }
    }

    fn assign(&mut self, ticket: Ticket, agent: &str, now_ms: u64) {
        let view = self.state.agents.get_mut(agent).expect("assign to a known agent");
        *view.load.entry(ticket.channel.clone()).or_default() += 1;
        view.last_assigned_ms = now_ms.max(1);
        view.open.insert(ticket.id.clone());
        let view = view.clone();
        self.bits.set_spare(&view);
        self.state
            .last_agent
            .insert(ticket.customer_id.clone(), agent.to_string());
        self.state.assignments.insert(
            ticket.id.clone(),
            Assignment {
                ticket,
                agent: agent.to_string(),
                assigned_ms: now_ms,
            },
        );
    }

    fn release(&mut self, ticket: &str) -> Result<Assignment, RouteError> {
        let a = self
            .state
            .assignments
            .remove(ticket)
            .ok_or_else(|| RouteError::UnknownTicket(ticket.to_string()))?;
        if let Some(view) = self.state.agents.get_mut(&a.agent) {
            if let Some(l) = view.load.get_mut(&a.ticket.channel) {
                *l = l.saturating_sub(1);
            }
            view.open.remove(ticket);
            let view = view.clone();
            self.bits.set_spare(&view);
        }
        Ok(a)
    }

    /// An agent with spare capacity takes the most urgent waiting tickets it may.
    fn pull_for(&mut self, agent: &str, now_ms: u64) -> Vec<Outcome> {
        let mut out = Vec::new();
        let Some(&slot) = self.bits.slot.get(agent) else {
            return out;
        };
        for id in self.queue_order(now_ms) {
            let Some(t) = self.state.queue.get(&id) else {
                continue;
            };
            let ring_i = self.ring_index(t, now_ms);
            let rings = self.rings(&t.category);
            let ring = rings[ring_i].clone();
            let (set, _) = self.eligible(t, &ring, None);
            if !set.contains(slot) {
                continue;
            }
            let decision = self.decide(t, now_ms, None);
            let ticket = self.state.queue.remove(&id).expect("present");
            self.assign(ticket, agent, now_ms);
            out.push(Outcome::Assigned {
                ticket: id,
                agent: agent.to_string(),
                decision,
            });
        }
        out
    }
}

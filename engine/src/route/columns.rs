//! Agents laid out by slot for deciding fast: a bitset per attribute for
//! eligibility, and slot-ordered arrays for scoring. Derived from the state
//! and kept in step with it; never saved.

use super::model::{MAX_LEVEL, Presence, Tier};
use super::router::AgentView;
use roaring::RoaringBitmap;
use std::collections::HashMap;

/// Bitsets and scoring inputs over agent slots.
#[derive(Default)]
pub(super) struct Columns {
    pub slot: HashMap<String, u32>,
    pub ids: Vec<String>,
    pub all: RoaringBitmap,
    pub online: RoaringBitmap,
    pub translation: RoaringBitmap,
    pub lang: HashMap<String, RoaringBitmap>,
    pub tier: HashMap<Tier, RoaringBitmap>,
    /// skill → agents with level ≥ i+1 at index i.
    pub skill: HashMap<String, [RoaringBitmap; MAX_LEVEL as usize]>,
    /// channel → agents with spare capacity on it.
    pub spare: HashMap<String, RoaringBitmap>,
    // Scoring inputs laid out by slot, so a decision over hundreds of
    // eligible agents reads contiguous arrays instead of chasing map nodes.
    /// channel → (capacity, load) per slot.
    pub chan: HashMap<String, Vec<(u32, u32)>>,
    /// skill → proficiency per slot (0 = lacks it).
    pub level: HashMap<String, Vec<u8>>,
    pub last_assigned: Vec<u64>,
    /// Expertise vectors, `dim` floats per slot (zeros where `has_vec` is false).
    pub vecs: Vec<f32>,
    pub has_vec: Vec<bool>,
    pub dim: usize,
}

impl Columns {
    /// Empty columns that accept the same vector length as `base` (for a plan's overlay).
    pub fn beside(base: &Columns) -> Self {
        Self {
            dim: base.dim,
            ..Self::default()
        }
    }

    fn slot_of(&mut self, id: &str) -> u32 {
        if let Some(&s) = self.slot.get(id) {
            return s;
        }
        let s = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.slot.insert(id.to_string(), s);
        s
    }

    /// Takes the agent in slot `s` out of every column (the slot stays reserved for its id).
    pub fn clear(&mut self, s: u32) {
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

    /// Writes every column of one agent.
    pub fn set(&mut self, a: &AgentView) {
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
    pub fn set_spare(&mut self, a: &AgentView) {
        let Some(&s) = self.slot.get(&a.spec.id) else {
            return self.set(a);
        };
        let s = s as usize;
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

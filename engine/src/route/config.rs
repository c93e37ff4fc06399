//! What an operator tunes: the relaxation rings per category and the scoring weights.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

impl Ring {
    /// Nothing relaxed, from the first second.
    pub fn strict() -> Self {
        Self {
            after_secs: 0,
            drop_additional: false,
            lower_proficiency: 0,
            allow_translation: false,
            any_tier: false,
        }
    }
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
        let ring = |after_secs, lower_proficiency, wide| Ring {
            after_secs,
            drop_additional: after_secs > 0,
            lower_proficiency,
            allow_translation: wide,
            any_tier: wide,
        };
        Self {
            default_rings: vec![
                ring(0, 0, false),
                ring(30, 0, false),
                ring(60, 1, false),
                ring(120, 2, true),
            ],
            rings: BTreeMap::new(),
            weights: Weights::default(),
            idle_saturation_secs: 600,
        }
    }
}

impl RouterConfig {
    /// Every ring list sorted by time and starting at 0 s (a strict ring is added where missing).
    pub fn normalised(mut self) -> Self {
        for rings in std::iter::once(&mut self.default_rings).chain(self.rings.values_mut()) {
            rings.sort_by_key(|r| r.after_secs);
            if rings.first().is_none_or(|r| r.after_secs > 0) {
                rings.insert(0, Ring::strict());
            }
        }
        self
    }

    /// The rings a ticket of this category passes through.
    pub fn rings(&self, category: &str) -> &[Ring] {
        self.rings.get(category).unwrap_or(&self.default_rings)
    }

    /// What changed from `before` to `self`, one phrase per setting; empty when equal.
    pub fn changes_since(&self, before: &RouterConfig) -> Vec<String> {
        let mut changes = Vec::new();
        if self.weights != before.weights {
            changes.push(format!("weights {:?} → {:?}", before.weights, self.weights));
        }
        if self.idle_saturation_secs != before.idle_saturation_secs {
            changes.push(format!(
                "idle_saturation_secs {} → {}",
                before.idle_saturation_secs, self.idle_saturation_secs
            ));
        }
        if self.default_rings != before.default_rings {
            changes.push("default rings".into());
        }
        let categories: std::collections::BTreeSet<&String> =
            self.rings.keys().chain(before.rings.keys()).collect();
        for c in categories {
            if self.rings.get(c) != before.rings.get(c) {
                changes.push(format!("rings of category {c:?}"));
            }
        }
        changes
    }
}

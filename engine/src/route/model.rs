//! Agents and tickets as the router sees them, and the checks on them.

use super::RouteError;
use crate::echo::clip;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Customer tier: VIP tickets go to agents who serve VIPs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Standard,
    Vip,
}

/// Whether an agent takes new work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Presence {
    Online,
    Away,
    Offline,
}

/// Highest proficiency level (Amazon Connect style 1–5).
pub const MAX_LEVEL: u8 = 5;
/// Most concurrent conversations of one channel an agent may hold.
pub const MAX_CAPACITY: u32 = 100;

/// What an operator says about an agent (UpsertAgent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentSpec {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// BCP-47 languages the agent writes, e.g. "en", "zh", "es".
    pub languages: Vec<String>,
    /// Skill → proficiency 1..=5.
    pub skills: BTreeMap<String, u8>,
    /// Free text, embedded once for semantic matching.
    #[serde(default)]
    pub expertise: String,
    /// Tiers served.
    pub tiers: Vec<Tier>,
    /// Channel → concurrent conversations (chat, email, voice, whatsapp, …).
    pub capacity: BTreeMap<String, u32>,
    /// Uses machine translation: eligible for any language once a ticket's ring allows it.
    #[serde(default)]
    pub translation: bool,
}

impl AgentSpec {
    /// Rejects specs the router cannot use, naming the field.
    pub fn validate(&self) -> Result<(), RouteError> {
        let bad = |reason: String| {
            Err(RouteError::InvalidAgent {
                id: self.id.clone(),
                reason,
            })
        };
        if self.id.trim().is_empty() {
            return bad("id is empty".into());
        }
        if self.languages.is_empty() || self.languages.iter().any(|l| l.trim().is_empty()) {
            return bad("needs at least one non-empty language".into());
        }
        if self.tiers.is_empty() {
            return bad("serves no tier".into());
        }
        for (skill, &level) in &self.skills {
            if skill.trim().is_empty() {
                return bad("has a skill with an empty name".into());
            }
            if !(1..=MAX_LEVEL).contains(&level) {
                return bad(format!(
                    "skill {} has level {level}; levels are 1 to {MAX_LEVEL}",
                    clip(skill)
                ));
            }
        }
        if self.capacity.is_empty() {
            return bad("has no channel capacity".into());
        }
        for (channel, &c) in &self.capacity {
            if c > MAX_CAPACITY {
                return bad(format!(
                    "capacity {c} on {} is absurd (at most {MAX_CAPACITY})",
                    clip(channel)
                ));
            }
        }
        Ok(())
    }
}

/// A skill the ticket needs, and the lowest acceptable proficiency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillNeed {
    pub skill: String,
    pub min_level: u8,
}

/// A conversation that needs a human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: String,
    pub customer_id: String,
    pub tier: Tier,
    pub language: String,
    pub channel: String,
    /// Category, used for the ticket's relaxation rings.
    #[serde(default)]
    pub category: String,
    /// The customer's message, for the record.
    #[serde(default)]
    pub text: String,
    /// Its embedding, matched against agents' expertise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vector: Option<Vec<f32>>,
    pub required: Vec<SkillNeed>,
    /// Wanted first, dropped when the ring allows.
    #[serde(default)]
    pub additional: Vec<SkillNeed>,
    /// 0 (low) to 9 (urgent).
    #[serde(default)]
    pub priority: u8,
    /// Milliseconds on the router's clock.
    #[serde(default)]
    pub created_ms: u64,
    /// Customer's previous agent; filled in by the router when empty.
    #[serde(default)]
    pub preferred_agent: Option<String>,
}

impl Ticket {
    pub fn validate(&self) -> Result<(), RouteError> {
        let bad = |reason: String| {
            Err(RouteError::InvalidTicket {
                id: self.id.clone(),
                reason,
            })
        };
        if self.id.trim().is_empty() {
            return bad("id is empty".into());
        }
        if self.language.trim().is_empty() {
            return bad("language is empty".into());
        }
        if self.channel.trim().is_empty() {
            return bad("channel is empty".into());
        }
        if self.priority > 9 {
            return bad(format!("priority {} is outside 0..=9", self.priority));
        }
        for need in self.required.iter().chain(&self.additional) {
            if !(1..=MAX_LEVEL).contains(&need.min_level) {
                return bad(format!(
                    "skill {} asks for level {}; levels are 1 to {MAX_LEVEL}",
                    clip(&need.skill),
                    need.min_level
                ));
            }
        }
        if let Some(v) = &self.vector
            && v.iter().any(|x| !x.is_finite())
        {
            return bad("vector has a non-finite component".into());
        }
        Ok(())
    }
}

//! Bounds on what one routing request may carry, so no single call costs unbounded memory
//! or time (an agent with 10 000 channels, a multi-megabyte id or expertise text).
//!
//! The defaults are written here once; the server's config fills a [`Limits`] from its
//! settings of the same names and checks every request before embedding or logging it.

use super::RouteError;
use super::model::{AgentSpec, SkillNeed, Ticket};

/// Per-request bounds; field names match the server settings that fill them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest id or label, in bytes: agent, ticket and customer ids, languages, channels,
    /// skill names and categories.
    pub max_id_bytes: usize,
    /// Longest agent name, in characters.
    pub max_name_chars: usize,
    /// Longest ticket text, in characters.
    pub max_text_chars: usize,
    /// Longest agent expertise text, in characters (it is embedded on every upsert).
    pub max_expertise_chars: usize,
    /// Most entries in one list: an agent's channels, skills, languages or tiers, a ticket's
    /// required or additional skills.
    pub max_list_len: usize,
}

impl Limits {
    /// The defaults: generous for real desks, small enough that one call stays cheap.
    pub const DEFAULT: Limits = Limits {
        max_id_bytes: 128,
        max_name_chars: 200,
        max_text_chars: 4000,
        max_expertise_chars: 4000,
        max_list_len: 64,
    };

    /// An id or label within `max_id_bytes`; `field` names it in the error.
    pub fn id(&self, field: &str, value: &str) -> Result<(), String> {
        if value.len() > self.max_id_bytes {
            return Err(format!(
                "{field} is {} bytes; the limit is {} (max_id_bytes)",
                value.len(),
                self.max_id_bytes
            ));
        }
        Ok(())
    }

    /// The same check for an agent id, as the router's error.
    pub fn agent_id(&self, value: &str) -> Result<(), RouteError> {
        self.id("agent id", value)
            .map_err(|reason| invalid_agent(value, reason))
    }

    /// The same check for a ticket id, as the router's error.
    pub fn ticket_id(&self, value: &str) -> Result<(), RouteError> {
        self.id("ticket id", value)
            .map_err(|reason| invalid_ticket(value, reason))
    }

    /// Every string and list of an agent within bounds, checked before its expertise is embedded.
    pub fn check_agent(&self, a: &AgentSpec) -> Result<(), RouteError> {
        self.agent(a).map_err(|reason| invalid_agent(&a.id, reason))
    }

    fn agent(&self, a: &AgentSpec) -> Result<(), String> {
        self.id("id", &a.id)?;
        chars("name", &a.name, self.max_name_chars, "max_name_chars")?;
        chars(
            "expertise",
            &a.expertise,
            self.max_expertise_chars,
            "max_expertise_chars",
        )?;
        self.list("languages", a.languages.len())?;
        self.list("skills", a.skills.len())?;
        self.list("capacity (channels)", a.capacity.len())?;
        self.list("tiers", a.tiers.len())?;
        a.languages.iter().try_for_each(|l| self.id("a language", l))?;
        a.skills.keys().try_for_each(|s| self.id("a skill name", s))?;
        a.capacity.keys().try_for_each(|c| self.id("a channel", c))
    }

    /// Every string and list of a ticket within bounds, checked before its text is embedded.
    pub fn check_ticket(&self, t: &Ticket) -> Result<(), RouteError> {
        self.ticket(t).map_err(|reason| invalid_ticket(&t.id, reason))
    }

    fn ticket(&self, t: &Ticket) -> Result<(), String> {
        self.id("id", &t.id)?;
        self.id("customer id", &t.customer_id)?;
        self.id("language", &t.language)?;
        self.id("channel", &t.channel)?;
        self.id("category", &t.category)?;
        if let Some(p) = &t.preferred_agent {
            self.id("preferred agent", p)?;
        }
        chars("text", &t.text, self.max_text_chars, "max_text_chars")?;
        self.needs("required", &t.required)?;
        self.needs("additional", &t.additional)
    }

    fn needs(&self, field: &str, needs: &[SkillNeed]) -> Result<(), String> {
        self.list(field, needs.len())?;
        needs.iter().try_for_each(|n| self.id("a skill name", &n.skill))
    }

    fn list(&self, field: &str, len: usize) -> Result<(), String> {
        if len > self.max_list_len {
            return Err(format!(
                "{field} has {len} entries; the limit is {} (max_list_len)",
                self.max_list_len
            ));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

fn chars(field: &str, value: &str, max: usize, setting: &str) -> Result<(), String> {
    // Bytes bound characters from above: most texts pass without counting.
    if value.len() > max {
        let n = value.chars().count();
        if n > max {
            return Err(format!(
                "{field} has {n} characters; the limit is {max} ({setting})"
            ));
        }
    }
    Ok(())
}

fn invalid_agent(id: &str, reason: String) -> RouteError {
    RouteError::InvalidAgent {
        id: crate::echo::cut(id, crate::echo::ECHO_CHARS).into_owned(),
        reason,
    }
}

fn invalid_ticket(id: &str, reason: String) -> RouteError {
    RouteError::InvalidTicket {
        id: crate::echo::cut(id, crate::echo::ECHO_CHARS).into_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_over_long_id_is_refused_with_a_short_message() {
        let id = "x".repeat(1 << 20);
        let e = Limits::DEFAULT.agent_id(&id).unwrap_err().to_string();
        assert!(e.contains("max_id_bytes") && e.contains("1048576 bytes"), "{e}");
        assert!(e.len() < 200, "{e}");
    }
}

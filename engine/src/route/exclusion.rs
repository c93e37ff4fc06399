//! The rules of the eligibility chain, as values: a decision counts how many
//! agents each one excluded. Written and read as the strings replies and the
//! routing log have always carried (`presence`, `capacity:chat`,
//! `language:de`, `tier:vip`, `skill:customs>=4`, `transfer:current-agent`),
//! so old logs replay and clients see no change.

use super::model::Tier;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One step of the eligibility chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum ExclusionRule {
    /// Not online.
    Presence,
    /// No spare capacity on the ticket's channel.
    Capacity { channel: String },
    /// Does not speak the ticket's language (nor translates, in late rings).
    Language { language: String },
    /// Does not serve the customer's tier.
    Tier(Tier),
    /// Below the level the ring asks of a needed skill.
    Skill { skill: String, level: u8 },
    /// The agent a transfer moves the ticket away from.
    TransferCurrentAgent,
}

impl fmt::Display for ExclusionRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Presence => f.write_str("presence"),
            Self::Capacity { channel } => write!(f, "capacity:{channel}"),
            Self::Language { language } => write!(f, "language:{language}"),
            Self::Tier(Tier::Standard) => f.write_str("tier:standard"),
            Self::Tier(Tier::Vip) => f.write_str("tier:vip"),
            Self::Skill { skill, level } => write!(f, "skill:{skill}>={level}"),
            Self::TransferCurrentAgent => f.write_str("transfer:current-agent"),
        }
    }
}

/// A string that names no rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an exclusion rule (presence, capacity:<channel>, language:<code>, tier:<tier>, skill:<name>>=<level>, transfer:current-agent)"
)]
pub struct UnknownRule(pub String);

impl FromStr for ExclusionRule {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownRule(s.to_string());
        match s {
            "presence" => return Ok(Self::Presence),
            "transfer:current-agent" => return Ok(Self::TransferCurrentAgent),
            "tier:standard" => return Ok(Self::Tier(Tier::Standard)),
            "tier:vip" => return Ok(Self::Tier(Tier::Vip)),
            _ => {}
        }
        let (kind, arg) = s.split_once(':').ok_or_else(unknown)?;
        match kind {
            "capacity" => Ok(Self::Capacity {
                channel: arg.to_string(),
            }),
            "language" => Ok(Self::Language {
                language: arg.to_string(),
            }),
            "skill" => {
                let (skill, level) = arg.rsplit_once(">=").ok_or_else(unknown)?;
                Ok(Self::Skill {
                    skill: skill.to_string(),
                    level: level.parse().map_err(|_| unknown())?,
                })
            }
            _ => Err(unknown()),
        }
    }
}

impl From<ExclusionRule> for String {
    fn from(rule: ExclusionRule) -> Self {
        rule.to_string()
    }
}

impl TryFrom<String> for ExclusionRule {
    type Error = UnknownRule;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_round_trips_through_the_strings_logs_and_replies_carry() {
        let cases = [
            (ExclusionRule::Presence, "presence"),
            (
                ExclusionRule::Capacity {
                    channel: "chat".into(),
                },
                "capacity:chat",
            ),
            (
                ExclusionRule::Language {
                    language: "de".into(),
                },
                "language:de",
            ),
            (ExclusionRule::Tier(Tier::Vip), "tier:vip"),
            (ExclusionRule::Tier(Tier::Standard), "tier:standard"),
            (
                ExclusionRule::Skill {
                    skill: "a>=b".into(),
                    level: 4,
                },
                "skill:a>=b>=4",
            ),
            (ExclusionRule::TransferCurrentAgent, "transfer:current-agent"),
        ];
        for (rule, text) in cases {
            assert_eq!(rule.to_string(), text);
            assert_eq!(text.parse::<ExclusionRule>(), Ok(rule.clone()));
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(json, format!("{text:?}"));
            assert_eq!(serde_json::from_str::<ExclusionRule>(&json).unwrap(), rule);
        }
        for bad in ["", "skill:x", "skill:x>=many", "tier:gold", "mood:angry"] {
            assert!(bad.parse::<ExclusionRule>().is_err(), "{bad}");
        }
    }
}

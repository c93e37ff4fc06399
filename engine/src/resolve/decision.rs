//! What kefu decided for one message, and why: the product's answer to a chat service.

use super::language::Language;
use super::signals::Signals;
use crate::index::ArticleHit;
use serde::{Deserialize, Serialize};

/// Answer now, or hand the customer to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Answer,
    Handoff,
}

/// Why; every decision has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The top article's confidence reached the threshold.
    Confident,
    /// No article is likely enough to be right.
    LowConfidence,
    /// Two articles fit about equally well; an agent should choose.
    Ambiguous { first: String, second: String },
    /// The customer asked for a person (the phrase that said so).
    AskedForHuman { phrase: String },
    /// The customer is angry or it is urgent (the cues).
    Upset { cues: Vec<String> },
    /// The search found no article at all (e.g. a filter admits none).
    NothingFound,
}

impl Reason {
    /// A short stable name ("confident", "ambiguous", …) for APIs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Reason::Confident => "confident",
            Reason::LowConfidence => "low_confidence",
            Reason::Ambiguous { .. } => "ambiguous",
            Reason::AskedForHuman { .. } => "asked_for_human",
            Reason::Upset { .. } => "upset",
            Reason::NothingFound => "nothing_found",
        }
    }

    /// One sentence for people reading a response or a log.
    pub fn explain(&self) -> String {
        match self {
            Reason::Confident => "the top article is confidently right".into(),
            Reason::LowConfidence => "no article is likely enough to be right".into(),
            Reason::Ambiguous { first, second } => {
                format!("ambiguous between articles {first} and {second}")
            }
            Reason::AskedForHuman { phrase } => format!("the customer asked for a person ({phrase:?})"),
            Reason::Upset { cues } => format!("the customer is upset or it is urgent ({})", cues.join(", ")),
            Reason::NothingFound => "no article matched the filters".into(),
        }
    }
}

/// The article text given to the customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub article_id: String,
    pub title: Option<String>,
    pub text: String,
    /// The locale of `text`.
    pub locale: Option<String>,
    /// False when the article has no variant in the customer's language (translate before sending).
    pub in_customer_language: bool,
    /// The article's score.
    pub score: f32,
    /// The sample question that matched best.
    pub matched_question: String,
}

/// The outcome of resolving one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub decision: Decision,
    pub reason: Reason,
    /// How likely the top article is right, in [0, 1].
    pub confidence: f32,
    /// The confidence needed to answer (calibrated, or overridden).
    pub threshold: f32,
    /// Set when the decision is to answer.
    pub answer: Option<Answer>,
    /// The best articles, for the agent when handed off (best first).
    pub suggestions: Vec<ArticleHit>,
    /// The top article's category: the ticket's category on handoff.
    pub category: Option<String>,
    pub language: Option<Language>,
    /// Locale of the sample that matched best: which locale answered.
    pub matched_locale: Option<String>,
    /// True when the customer's own locale had no confident hit and all locales were searched.
    pub fell_back: bool,
    pub signals: Signals,
}

impl Resolution {
    /// Priority points to add to a handoff ticket: 0, 3 or 6 by urgency.
    pub fn priority_boost(&self) -> u8 {
        self.signals.urgency * 3
    }
}

//! The knowledge base: articles with sample questions, and importing them from files.
//!
//! An [`Article`] is one answer with several ways customers ask for it; every
//! sample question (and the title) becomes one vector in the index that points
//! back at its article.

mod import;

pub use import::{ImportReport, import_file};

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One answer in the knowledge base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Article {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub answer: String,
    #[serde(default)]
    pub questions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Which text of an article a vector was made from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleQuestion {
    /// The article's title.
    Title,
    /// `questions[i]`.
    Question(u32),
}

impl Article {
    /// The texts that become vectors, with where each came from: every question, then the title.
    pub fn sample_questions(&self) -> impl Iterator<Item = (SampleQuestion, &str)> {
        self.questions
            .iter()
            .enumerate()
            .map(|(i, q)| (SampleQuestion::Question(i as u32), q.as_str()))
            .chain(self.title.as_deref().map(|t| (SampleQuestion::Title, t)))
    }

    /// The text of one sample question.
    pub fn sample_text(&self, which: SampleQuestion) -> Option<&str> {
        match which {
            SampleQuestion::Title => self.title.as_deref(),
            SampleQuestion::Question(i) => self.questions.get(i as usize).map(String::as_str),
        }
    }

    /// Values of a filterable field, for posting lists and filter checks.
    pub fn field_values(&self, field: crate::index::Field) -> Vec<&str> {
        use crate::index::Field;
        match field {
            Field::Category => self.category.as_deref().into_iter().collect(),
            Field::Locale => self.locale.as_deref().into_iter().collect(),
            Field::Market => self.markets.iter().map(String::as_str).collect(),
            Field::Tag => self.tags.iter().map(String::as_str).collect(),
        }
    }
}

/// A knowledge-base file that could not be imported, with the place at fault.
#[derive(Debug, thiserror::Error)]
pub enum KbError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
    #[error("{path}: unknown knowledge-base format (expected .jsonl, .json or .csv)")]
    UnknownFormat { path: PathBuf },
    #[error("{path}: no articles")]
    Empty { path: PathBuf },
}

//! The knowledge base: articles with sample questions, and importing them from files.
//!
//! An [`Article`] is one answer with several ways customers ask for it; every
//! sample question (and the title, and the answer) becomes one vector in the
//! index that points back at its article. An article may carry [`Variant`]s: the same answer in
//! other locales, each with its own title, answer and sample questions, so a
//! question finds the article in any language and the customer is answered in
//! theirs.

mod field;
mod import;

pub use field::Field;
pub use import::{ImportReport, import_bytes, import_file};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
    /// The locale of the base text (title, answer, questions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub markets: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The same article in other locales, keyed by locale ("es", "zh", …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variants: BTreeMap<String, Variant>,
}

/// The article's text in one more locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub answer: String,
    #[serde(default)]
    pub questions: Vec<String>,
}

/// One text of an article that becomes a vector, with the locale it is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    pub locale: Option<&'a str>,
    pub text: &'a str,
}

/// The text shown to a customer: the base article or one of its variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Localized<'a> {
    pub locale: Option<&'a str>,
    pub title: Option<&'a str>,
    pub answer: &'a str,
}

/// Sample number that means "the base title" in indexes built before variants existed.
pub const LEGACY_TITLE: u32 = u32::MAX;

impl Article {
    /// Base text, then each variant in locale order: the texts that become vectors.
    ///
    /// Order within each text set: every question, then the title; after all of them,
    /// each non-empty answer (base, then variants): the answer is evidence for its
    /// article too (measured in docs/quality.md). The position of a sample in this
    /// sequence is the number the index stores for its point.
    pub fn samples(&self) -> impl Iterator<Item = Sample<'_>> {
        let base = self.locale.as_deref();
        let questions = text_samples(base, &self.questions, self.title.as_deref()).chain(
            self.variants
                .iter()
                .flat_map(|(loc, v)| text_samples(Some(loc.as_str()), &v.questions, v.title.as_deref())),
        );
        // The answers come last, so the numbers of questions and titles stay those that
        // indexes built before answers were indexed store.
        let answers = std::iter::once((base, self.answer.as_str()))
            .chain(
                self.variants
                    .iter()
                    .map(|(loc, v)| (Some(loc.as_str()), v.answer.as_str())),
            )
            .filter(|(_, text)| !text.trim().is_empty())
            .map(|(locale, text)| Sample { locale, text });
        questions.chain(answers)
    }

    /// The sample at position `i` of [`Article::samples`].
    pub fn sample(&self, i: u32) -> Option<Sample<'_>> {
        if i == LEGACY_TITLE {
            return self.title.as_deref().map(|text| Sample {
                locale: self.locale.as_deref(),
                text,
            });
        }
        self.samples().nth(i as usize)
    }

    /// Every locale the article is written in: the base locale, then the variants'.
    pub fn locales(&self) -> impl Iterator<Item = &str> {
        self.locale
            .as_deref()
            .into_iter()
            .chain(self.variants.keys().map(String::as_str))
    }

    /// The text in `locale` when the article has it, else `None`.
    pub fn in_locale(&self, locale: &str) -> Option<Localized<'_>> {
        if self.locale.as_deref().is_some_and(|l| same_language(l, locale)) {
            return Some(self.base_text());
        }
        self.variants
            .iter()
            .find(|(l, _)| same_language(l, locale))
            .map(|(l, v)| Localized {
                locale: Some(l.as_str()),
                title: v.title.as_deref(),
                answer: &v.answer,
            })
    }

    /// The base text.
    pub fn base_text(&self) -> Localized<'_> {
        Localized {
            locale: self.locale.as_deref(),
            title: self.title.as_deref(),
            answer: &self.answer,
        }
    }

    /// Values of a filterable field, for filter checks (locale: every locale it is written in).
    pub fn field_values(&self, field: Field) -> Vec<&str> {
        match field {
            Field::Category => self.category.as_deref().into_iter().collect(),
            Field::Locale => self.locales().collect(),
            Field::Market => self.markets.iter().map(String::as_str).collect(),
            Field::Tag => self.tags.iter().map(String::as_str).collect(),
        }
    }
}

fn text_samples<'a>(
    locale: Option<&'a str>,
    questions: &'a [String],
    title: Option<&'a str>,
) -> impl Iterator<Item = Sample<'a>> {
    questions
        .iter()
        .map(String::as_str)
        .chain(title)
        .map(move |text| Sample { locale, text })
}

/// Whether two locale tags name the same language ("pt-BR" and "pt" do; case is ignored).
pub fn same_language(a: &str, b: &str) -> bool {
    let lang = |s: &str| s.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    !a.is_empty() && lang(a) == lang(b)
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

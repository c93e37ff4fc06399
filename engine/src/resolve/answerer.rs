//! The one answering path: a query vector in, ranked articles or a decision out.
//!
//! Ask, Search, the router's category inference and Resolve all go through an
//! [`Answerer`]; callers bring the vector (the server from its cache and
//! encoder queue, the CLI from the encoder directly), so this stays free of
//! I/O and async.

use super::confidence::{Calibration, Fit};
use super::decision::{Answer, Decision, Reason, Resolution};
use super::language::{Language, LanguageSource};
use super::rank::{ArticleScore, Scoring, rank};
use super::signals;
use crate::index::{ArticleHit, Field, Filter, Index, IndexError};
use crate::kb::same_language;

/// Candidate articles rescored per query (1-NN finds them, [`rank`] orders them).
pub const CANDIDATES: usize = 10;
/// Urgency at which a message is handed off whatever the confidence.
const HANDOFF_URGENCY: u8 = 2;
/// A threshold no confidence reaches: without a calibration, everything is handed off.
const NEVER: f32 = 1.0 + f32::EPSILON;

/// One customer message to resolve.
#[derive(Debug, Clone, Default)]
pub struct Inquiry<'a> {
    /// The normalised text ([`super::text::normalize`]).
    pub text: &'a str,
    /// The customer's language, detected or declared ([`super::language::detect`]).
    pub language: Option<&'a Language>,
    /// Markets, categories and any explicit locales.
    pub filter: Filter,
    /// Search the customer's language first (off when the caller named locales).
    pub locale_first: bool,
    /// Articles returned as suggestions.
    pub suggestions: usize,
}

/// Ranks articles for a vector and decides answer or handoff.
pub struct Answerer<'a> {
    index: &'a Index,
    calibration: Option<&'a Calibration>,
    scoring: Option<Scoring>,
    ef: usize,
    min_confidence: Option<f32>,
}

impl<'a> Answerer<'a> {
    /// An answerer with the index's own calibration.
    pub fn new(index: &'a Index, ef: usize) -> Self {
        Self {
            index,
            calibration: index.manifest().calibration.as_ref(),
            scoring: None,
            ef,
            min_confidence: None,
        }
    }

    /// Uses another calibration (e.g. one fitted for another scoring) instead of the manifest's.
    pub fn with_calibration(mut self, calibration: Option<&'a Calibration>) -> Self {
        self.calibration = calibration;
        self
    }

    /// Ranks with this scoring whatever the calibration says (plain 1-NN for baselines).
    pub fn with_scoring(mut self, scoring: Scoring) -> Self {
        self.scoring = Some(scoring);
        self
    }

    /// Overrides the calibrated threshold (config or request).
    pub fn with_min_confidence(mut self, min: Option<f32>) -> Self {
        self.min_confidence = min;
        self
    }

    /// The article scoring in use: as set, else the calibration's, else the default.
    pub fn scoring(&self) -> Scoring {
        self.scoring
            .or(self.calibration.map(|c| c.scoring))
            .unwrap_or_default()
    }

    /// The confidence needed to answer an article matched in `locale`.
    pub fn threshold(&self, locale: Option<&str>) -> f32 {
        self.min_confidence
            .or(self.calibration.map(|c| c.fit_for(locale).threshold))
            .unwrap_or(NEVER)
    }

    /// The fit that judges a ranked list: the one of the top match's locale.
    fn fit(&self, ranked: &[ArticleScore]) -> Option<&'a Fit> {
        let locale = ranked.first().and_then(|r| self.locale_of(r.best_point));
        self.calibration.map(|c| c.fit_for(locale))
    }

    /// Confidence and threshold of a ranked list.
    fn judge(&self, ranked: &[ArticleScore]) -> (f32, f32) {
        match self.fit(ranked) {
            None => (0.0, self.min_confidence.unwrap_or(NEVER)),
            Some(f) => (f.confidence(ranked), self.min_confidence.unwrap_or(f.threshold)),
        }
    }

    fn locale_of(&self, point: u32) -> Option<&'a str> {
        let g = self.index.groups();
        g.locale_name(g.locale_id(point))
    }

    /// The `k` best articles for a vector, best first, scored with [`Answerer::scoring`].
    pub fn rank(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<ArticleScore>, IndexError> {
        let filter = filter.filter(|f| !f.is_empty());
        // Article scores are dot products with the query: rank needs it at unit length too.
        let prepared = self.index.prepare_query(query)?;
        let query: &[f32] = &prepared;
        let hits = self
            .index
            .search(query, k.max(self.scoring().candidates()), self.ef, filter)?;
        let mut ranked = match filter {
            None => rank(self.index, query, &hits, &self.scoring(), &|_| true),
            Some(f) => {
                let admitted = self.index.filter_points(f);
                rank(self.index, query, &hits, &self.scoring(), &|p| {
                    admitted.contains(p)
                })
            }
        };
        ranked.truncate(k);
        Ok(ranked)
    }

    /// The `k` best articles with their payloads: what Ask and Search return.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<ArticleHit>, IndexError> {
        let ranked = self.rank(query, k, filter)?;
        self.payloads(&ranked, k)
    }

    /// The category of the best article: what the router files a ticket under.
    pub fn category(&self, query: &[f32]) -> Result<Option<String>, IndexError> {
        let hits = self.search(query, 1, None)?;
        Ok(hits.into_iter().next().and_then(|h| h.article.category))
    }

    /// Decides answer or handoff for one message.
    pub fn resolve(&self, query: &[f32], inquiry: &Inquiry) -> Result<Resolution, IndexError> {
        let signals = signals::read(inquiry.text);
        let want = CANDIDATES.max(inquiry.suggestions);

        // A guessed language (a short text, nothing declared) is put to the index: over
        // every locale, the nearest sample's locale is how the customer writes. Short
        // English guessed as Portuguese would otherwise be searched, answered and routed
        // in Portuguese.
        let mut language = inquiry.language.cloned();
        let mut everywhere = None;
        // (Not when the caller named the locales: the ranking would only cover those.)
        let check_guess = inquiry.locale_first;
        if let Some(guess) = language
            .as_mut()
            .filter(|l| check_guess && l.source == LanguageSource::Guessed)
        {
            let all = self.rank(query, want, Some(&inquiry.filter))?;
            let nearest = all.first().and_then(|r| self.locale_of(r.best_point));
            if let Some(m) = nearest.filter(|m| !same_language(&guess.code, m)) {
                guess.code = m.split(['-', '_']).next().unwrap_or(m).to_ascii_lowercase();
            }
            everywhere = Some(all);
        }
        // Every locale's ranking, reusing the one the guess was checked with.
        let rank_everywhere = |done: Option<Vec<ArticleScore>>| match done {
            Some(all) => Ok(all),
            None => self.rank(query, want, Some(&inquiry.filter)),
        };

        // The customer's own language first, when the index has text in it.
        let own = language
            .as_ref()
            .filter(|_| inquiry.locale_first)
            .map(|l| l.code.as_str())
            .filter(|code| !self.index.posting(Field::Locale, code).is_empty());
        let mut fell_back = false;
        let ranked = match own {
            Some(code) => {
                let mut f = inquiry.filter.clone();
                f.add("locale", &[code.to_string()]).map_err(IndexError::Filter)?;
                let local = self.rank(query, want, Some(&f))?;
                let (conf, threshold) = self.judge(&local);
                if conf >= threshold {
                    local
                } else {
                    // Not confident in their own locale: every locale competes. (The local list
                    // is never kept here: with few articles in a locale its margins are inflated.)
                    fell_back = true;
                    rank_everywhere(everywhere)?
                }
            }
            None => rank_everywhere(everywhere)?,
        };

        let (conf, threshold) = self.judge(&ranked);
        let reason = if let Some(phrase) = &signals.asks_for_human {
            Reason::AskedForHuman {
                phrase: phrase.clone(),
            }
        } else if signals.urgency >= HANDOFF_URGENCY {
            Reason::Upset {
                cues: signals.urgency_cues.clone(),
            }
        } else if ranked.is_empty() {
            Reason::NothingFound
        } else if conf >= threshold {
            Reason::Confident
        } else if ranked.len() >= 2
            && self
                .fit(&ranked)
                .is_some_and(|f| f.confidence_without_runner_up(&ranked) >= threshold)
        {
            Reason::Ambiguous {
                first: self.index.article(ranked[0].article)?.id,
                second: self.index.article(ranked[1].article)?.id,
            }
        } else {
            Reason::LowConfidence
        };
        let decision = if reason == Reason::Confident {
            Decision::Answer
        } else {
            Decision::Handoff
        };

        let suggestions = self.payloads(&ranked, inquiry.suggestions.max(1))?;
        let top = suggestions.first();
        let answer = match (decision, top) {
            (Decision::Answer, Some(hit)) => Some(localized_answer(hit, language.as_ref())),
            _ => None,
        };
        Ok(Resolution {
            decision,
            reason,
            confidence: conf,
            threshold,
            answer,
            category: top.and_then(|h| h.article.category.clone()),
            matched_locale: top.and_then(|h| h.matched_locale.clone()),
            suggestions,
            language,
            fell_back,
            signals,
        })
    }

    /// Reads the payloads of the first `k` ranked articles.
    fn payloads(&self, ranked: &[ArticleScore], k: usize) -> Result<Vec<ArticleHit>, IndexError> {
        ranked
            .iter()
            .take(k)
            .map(|r| {
                let mut hit = self.index.resolve(&crate::index::Hit {
                    article: r.article,
                    point: r.best_point,
                    score: r.score,
                })?;
                hit.score = r.score;
                Ok(hit)
            })
            .collect()
    }
}

/// The article in the customer's language when it has it, else its base text, flagged.
fn localized_answer(hit: &ArticleHit, language: Option<&Language>) -> Answer {
    let a = &hit.article;
    let (text, in_language) = match language.and_then(|l| a.in_locale(&l.code)) {
        Some(t) => (t, true),
        None => {
            // Prefer the locale that matched (the customer wrote like it), then the base text.
            let matched = hit.matched_locale.as_deref().and_then(|m| a.in_locale(m));
            let t = matched.unwrap_or_else(|| a.base_text());
            let same = language
                .zip(t.locale)
                .is_some_and(|(l, loc)| same_language(&l.code, loc));
            (t, same || language.is_none())
        }
    };
    Answer {
        article_id: a.id.clone(),
        title: text.title.map(str::to_string),
        text: text.answer.to_string(),
        locale: text.locale.map(str::to_string),
        in_customer_language: in_language,
        score: hit.score,
        matched_question: hit.matched_question.clone(),
    }
}

//! Which question each call asks: a share of repeats (questions the server has seen, so
//! its cache answers) and new ones (a unique variation, so the encoder runs).

use super::LoadError;

/// The question set and the share of calls that repeat one of its questions verbatim.
///
/// Repeats are spread evenly: over any run of calls the count of repeats is within one of
/// `share × calls`. A new question is a base question with a unique suffix (`salt` and
/// the call number), the same shape kefu-load's `--unique` has always sent.
#[derive(Debug, Clone)]
pub struct Mix {
    questions: Vec<String>,
    share: f64,
    salt: String,
}

/// One call's question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub text: String,
    /// A verbatim base question (a cache hit once asked), not a new variation.
    pub repeat: bool,
}

impl Mix {
    /// `questions` (non-empty) with `share` (0.0..=1.0) of calls repeating them; `salt`
    /// makes new questions differ from any other run's.
    pub fn new(questions: Vec<String>, share: f64, salt: impl Into<String>) -> Result<Self, LoadError> {
        if !(0.0..=1.0).contains(&share) {
            return Err(LoadError::BadShare(share));
        }
        if questions.is_empty() {
            return Err(LoadError::NoQuestions);
        }
        Ok(Self {
            questions,
            share,
            salt: salt.into(),
        })
    }

    /// The same questions and share with another salt (a new search step asks new questions).
    pub fn with_salt(&self, salt: impl Into<String>) -> Self {
        Self {
            salt: salt.into(),
            ..self.clone()
        }
    }

    /// The share of calls that repeat a question.
    pub fn share(&self) -> f64 {
        self.share
    }

    /// Repeats among calls `0..n`.
    fn repeats_before(&self, n: u64) -> u64 {
        (n as f64 * self.share).floor() as u64
    }

    /// Call `n`'s question.
    pub fn question(&self, n: u64) -> Question {
        let repeats = self.repeats_before(n + 1);
        let len = self.questions.len() as u64;
        if repeats > self.repeats_before(n) {
            // The repeats cycle through every base question.
            let text = self.questions[((repeats - 1) % len) as usize].clone();
            Question { text, repeat: true }
        } else {
            let base = &self.questions[((n - repeats) % len) as usize];
            Question {
                text: format!("{base} (#{}-{n})", self.salt),
                repeat: false,
            }
        }
    }

    /// The questions a warm-up asks once so that repeats are cache hits from the first
    /// call: every base question when any call repeats, none otherwise.
    pub fn warm_up(&self) -> &[String] {
        if self.share > 0.0 { &self.questions } else { &[] }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(share: f64) -> Mix {
        let qs = ["a", "b", "c"].map(String::from).to_vec();
        Mix::new(qs, share, "7").unwrap()
    }

    #[test]
    fn the_share_of_repeats_holds_over_every_prefix() {
        for share in [0.0, 0.1, 0.25, 0.5, 0.9, 0.99, 1.0] {
            let m = mix(share);
            let mut repeats = 0u64;
            for n in 0..1000u64 {
                repeats += u64::from(m.question(n).repeat);
                let want = (n + 1) as f64 * share;
                assert!(
                    (repeats as f64 - want).abs() <= 1.0,
                    "share {share}, call {n}: {repeats}"
                );
            }
        }
    }

    #[test]
    fn new_questions_are_unique_and_repeats_cycle_through_the_set() {
        let m = mix(0.5);
        let qs: Vec<Question> = (0..12).map(|n| m.question(n)).collect();
        let new: Vec<&str> = qs.iter().filter(|q| !q.repeat).map(|q| q.text.as_str()).collect();
        assert_eq!(
            new,
            [
                "a (#7-0)",
                "b (#7-2)",
                "c (#7-4)",
                "a (#7-6)",
                "b (#7-8)",
                "c (#7-10)"
            ]
        );
        let rep: Vec<&str> = qs.iter().filter(|q| q.repeat).map(|q| q.text.as_str()).collect();
        assert_eq!(rep, ["a", "b", "c", "a", "b", "c"]);
        assert!(rep.iter().all(|q| m.warm_up().iter().any(|w| w == q)));
        assert_eq!(m.with_salt("8").question(0).text, "a (#8-0)");
    }

    #[test]
    fn all_new_or_all_repeated() {
        assert!((0..50).all(|n| !mix(0.0).question(n).repeat));
        assert!(mix(0.0).warm_up().is_empty());
        assert!((0..50).all(|n| mix(1.0).question(n).repeat));
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(matches!(Mix::new(vec![], 0.5, ""), Err(LoadError::NoQuestions)));
        for bad in [-0.1, 1.5, f64::NAN] {
            assert!(matches!(
                Mix::new(vec!["q".into()], bad, ""),
                Err(LoadError::BadShare(_))
            ));
        }
    }
}

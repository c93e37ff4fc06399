//! Customer text as kefu reads it: NFKC-normalised, control characters removed,
//! whitespace collapsed — so "Ｗｈｅｒｅ  is\tmy parcel" and "Where is my parcel"
//! are one question to the cache, the encoder and the lexicons.

use unicode_normalization::UnicodeNormalization;

/// The normalised form of a customer's message.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkc() {
        if c.is_whitespace() {
            pending_space = !out.is_empty();
        } else if c.is_control() || is_invisible(c) {
            // NUL, escape codes, zero-width marks: never part of a question.
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    out
}

/// Zero-width and direction marks that survive NFKC but carry no meaning.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}')
}

/// Whether a normalised text has anything to look up: at least one letter or digit.
pub fn has_content(text: &str) -> bool {
    text.chars().any(char::is_alphanumeric)
}

/// A text's sorted character trigrams (lower-cased, space-padded): tells a near copy from a paraphrase.
pub(crate) fn trigrams(text: &str) -> Vec<u64> {
    let chars: Vec<char> = std::iter::once(' ')
        .chain(normalize(text).chars().flat_map(char::to_lowercase))
        .chain(std::iter::once(' '))
        .collect();
    let mut grams: Vec<u64> = chars
        .windows(3)
        .map(|w| w.iter().fold(0u64, |h, &c| (h << 21) | u64::from(c)))
        .collect();
    grams.sort_unstable();
    grams.dedup();
    grams
}

/// Jaccard overlap of two [`trigrams`] sets: 1 for one text up to case and spacing, 0 for none.
pub(crate) fn overlap(a: &[u64], b: &[u64]) -> f32 {
    let (mut i, mut j, mut both) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                both += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - both;
    // Two empty texts are unknown, not copies.
    if union == 0 {
        0.0
    } else {
        both as f32 / union as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_controls_and_whitespace() {
        assert_eq!(
            normalize("  Ｗｈｅｒｅ  is\tmy\u{0}\u{200B} parcel?\n"),
            "Where is my parcel?"
        );
    }

    #[test]
    fn nul_and_punctuation_have_no_content() {
        assert!(!has_content(&normalize(&"\u{0}".repeat(100))));
        assert!(!has_content("?!… 🙂"));
        assert!(has_content("包裹"));
        assert!(has_content("42"));
    }

    #[test]
    fn near_copies_overlap_and_paraphrases_do_not() {
        let t = |s: &str| trigrams(s);
        assert_eq!(overlap(&t("Join  contest"), &t("join contest")), 1.0);
        assert!(overlap(&t("Join contest"), &t("Join a contest")) >= 0.5);
        assert!(
            overlap(
                &t("How do I join a contest?"),
                &t("Where can I enter a tournament")
            ) < 0.2
        );
        assert!(overlap(&t("包裹在哪里"), &t("我的包裹在哪里")) >= 0.5);
        assert_eq!(overlap(&t(""), &t("")), 0.0);
    }
}

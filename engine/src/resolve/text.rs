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
}

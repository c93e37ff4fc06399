//! Caller-provided strings quoted in error messages: clipped, so an id of
//! megabytes can neither flood a log line nor overflow gRPC's metadata limit
//! (an error message travels in the `grpc-message` header).

/// Characters of a caller's string an error message keeps.
pub const ECHO_CHARS: usize = 64;

/// `s` quoted as `{:?}` quotes it, cut after [`ECHO_CHARS`] characters with "…" and the full length.
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(ECHO_CHARS) {
        None => format!("{s:?}"),
        Some((end, _)) => format!("{:?}… ({} characters)", &s[..end], s.chars().count()),
    }
}

/// `s` cut to `max` characters with "…" appended when it was longer: for listings that
/// show a caller's text (a queue's ticket texts) without echoing megabytes.
pub fn cut(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(s),
        Some((end, _)) => std::borrow::Cow::Owned(format!("{}…", &s[..end])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_strings_are_quoted_whole_and_long_ones_clipped_on_a_char_boundary() {
        assert_eq!(clip("a-17"), "\"a-17\"");
        let long = "é".repeat(100_000);
        let c = clip(&long);
        assert!(c.starts_with(&format!("\"{}\"…", "é".repeat(ECHO_CHARS))), "{c}");
        assert!(c.ends_with("(100000 characters)"), "{c}");
        assert!(c.len() < 200);
    }

    #[test]
    fn cut_keeps_short_strings_and_marks_cut_ones() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "abc…");
        assert_eq!(cut("包裹在哪里", 2), "包裹…");
    }
}

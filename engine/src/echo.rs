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
}

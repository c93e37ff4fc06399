//! kefu-bench: criterion benches (`benches/`) and the `kefu-load` gRPC load generator.
//!
//! Shared helpers for the benches live here so each bench file reads as its cases only;
//! [`load`] holds the parts of `kefu-load`.

use std::path::PathBuf;

pub mod load;

/// The model the benches embed with: `KEFU_MODEL_DIR`, else the one `make model` fetched.
///
/// A relative `KEFU_MODEL_DIR` is read from the repository root (cargo runs benches in
/// the bench crate's folder), so `KEFU_MODEL_DIR=models/multilingual-e5-small` works.
pub fn model_path() -> PathBuf {
    kefu_engine::embed::ModelDir::resolve_in(&PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
}

/// Customer questions of typical length (10–20 tokens), for encoder benches.
pub const QUESTIONS: &[&str] = &[
    "How long does the battery of this bluetooth headset last?",
    "When will my parcel arrive in Germany if I choose sea freight?",
    "Do I have to pay import duties and VAT when the courier delivers?",
    "My card was declined at checkout, what should I do?",
    "Can I return the LED strip if it does not fit my kitchen?",
    "Can you print our company logo on the packaging for 500 units?",
    "The tracking number you sent me shows no information yet",
    "Is the smart plug compatible with 5 GHz wifi networks?",
];

/// Resident set size of this process in KiB (Linux), 0 where unknown.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

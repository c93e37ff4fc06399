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

/// A small deterministic xorshift generator: every bench run draws the same data.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// Uniform below `n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in [-1, 1], in steps of 0.001.
    pub fn signed(&mut self) -> f32 {
        (self.next_u64() % 2001) as f32 / 1000.0 - 1.0
    }

    /// `centre` plus `spread` × noise in each component, at unit length (a random
    /// direction when `centre` is zero).
    pub fn near(&mut self, centre: &[f32], spread: f32) -> Vec<f32> {
        let mut v: Vec<f32> = centre.iter().map(|c| c + spread * self.signed()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter_mut().for_each(|x| *x /= n);
        v
    }
}

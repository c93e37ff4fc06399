//! Entry points for fuzzing: each takes arbitrary bytes and drives one part of
//! the engine that reads untrusted files. Errors are expected; a panic, a hang
//! or an unbounded allocation is a bug.
//!
//! Written once, driven twice: by the cargo-fuzz targets in `fuzz/` (coverage
//! guided, `make fuzz`) and by `engine/tests/fuzz_loop.rs` (a fixed-seed
//! mutation loop over [`seeds`], part of `make test`).
//!
//! - [`index`] — damage a small valid index version, then open, search and verify it
//! - [`kb`] — import JSON Lines or CSV from bytes
//! - [`route`] — recover a routing directory from arbitrary snapshot and log bytes

pub mod index;
pub mod kb;
pub mod route;

/// Reads an entry point's input front to back; past the end every read is 0
/// (so any byte string is a valid input).
pub(crate) struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self { bytes }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        let (&b, rest) = self.bytes.split_first().unwrap_or((&0, &[]));
        self.bytes = rest;
        b
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer at the end).
    pub(crate) fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        head
    }

    /// Everything left.
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        self.take(usize::MAX)
    }
}

/// Values that break length and offset arithmetic: what a damaged header or
/// manifest field is set to.
pub(crate) const EXTREMES: [u64; 10] = [
    0,
    1,
    0x7f,
    0xff,
    0xffff,
    u32::MAX as u64 - 1,
    u32::MAX as u64,
    1 << 32,
    i64::MAX as u64,
    u64::MAX,
];

/// One starting input per entry point and case, for the fuzz corpus and the
/// deterministic loop: `(target, name, bytes)`.
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, bytes) in index::seeds() {
        out.push(("index", name, bytes));
    }
    for (name, bytes) in kb::seeds() {
        out.push(("kb", name, bytes));
    }
    for (name, bytes) in route::seeds() {
        out.push(("route", name, bytes));
    }
    out
}

/// Runs the entry point a target name stands for.
pub fn run(target: &str, data: &[u8]) {
    match target {
        "index" => index::run(data),
        "kb" => kb::run(data),
        "route" => route::run(data),
        other => panic!("no fuzz target {other:?}"),
    }
}

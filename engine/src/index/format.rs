//! kefu's on-disk index layout: one version directory of little-endian files.
//!
//! ```text
//! <root>/current                 text file naming the served version
//! <root>/<version>/manifest.json what the version is; written last, renamed into place
//! <root>/<version>/vectors.bin   header, then n × dim f32 (unit length)
//! <root>/<version>/graph.bin     header, level-0 lists (n × m0 u32), levels (n u8),
//!                                upper offsets (n u32), upper lists (m u32 per node per layer ≥ 1)
//! <root>/<version>/points.bin    header, point → article (n u32), point → sample question (n u32)
//! <root>/<version>/articles.bin  header, offsets ((a + 1) u64), JSON of each article
//! <root>/<version>/postings.bin  header, sorted point ids (u32) of every (field, value)
//! ```
//!
//! Every file starts with a 64-byte [`FileHeader`]; every section starts at a
//! multiple of 64 bytes, so the mapped bytes cast to `&[u32]`/`&[f32]` in
//! place. Unused neighbour slots hold [`NO_NODE`].

use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[cfg(not(target_endian = "little"))]
compile_error!(
    "kefu's index files are little-endian and read in place; big-endian targets are not supported"
);

/// Bumped on any incompatible change of the files below.
pub const FORMAT_VERSION: u32 = 1;
/// Marks an empty neighbour slot.
pub const NO_NODE: u32 = u32::MAX;
/// Section alignment inside every file: a cache line, and enough for AVX-512 loads.
pub const ALIGN: usize = 64;
/// Stored vectors are unit length within this: the build refuses others and `verify` reports them.
pub const UNIT_TOLERANCE: f64 = 1e-3;

/// A vector's length computed in f64: a square of any finite f32 (≤ 1.2e77) and their
/// sum over any plausible dimension stay finite, where f32 overflows at |x| ≈ 1.8e19.
pub fn norm_f64(v: &[f32]) -> f64 {
    v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt()
}
/// Sample code for "the article's base title" (see [`crate::kb::LEGACY_TITLE`]).
pub const TITLE_QUESTION: u32 = crate::kb::LEGACY_TITLE;

pub const MANIFEST: &str = "manifest.json";
pub const MANIFEST_PENDING: &str = "manifest.pending";
pub const CURRENT: &str = "current";
pub const VECTORS: &str = "vectors.bin";
pub const GRAPH: &str = "graph.bin";
pub const POINTS: &str = "points.bin";
pub const ARTICLES: &str = "articles.bin";
pub const POSTINGS: &str = "postings.bin";
/// The data files a version must have, in the order they are checked.
pub const DATA_FILES: [&str; 5] = [VECTORS, GRAPH, POINTS, ARTICLES, POSTINGS];

pub const MAGIC_VECTORS: [u8; 8] = *b"KEFUVEC1";
pub const MAGIC_GRAPH: [u8; 8] = *b"KEFUGRF1";
pub const MAGIC_POINTS: [u8; 8] = *b"KEFUPTS1";
pub const MAGIC_ARTICLES: [u8; 8] = *b"KEFUART1";
pub const MAGIC_POSTINGS: [u8; 8] = *b"KEFUPST1";

/// The first 64 bytes of every data file. `counts` are file-specific:
/// vectors `[n, dim]`; graph `[n, m0, m, max_level, entry, upper_len]`;
/// points `[n]`; articles `[articles, payload_bytes]`; postings `[ids]`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable, PartialEq, Eq)]
pub struct FileHeader {
    pub magic: [u8; 8],
    pub format_version: u32,
    pub reserved: u32,
    pub counts: [u64; 6],
}

const _: () = assert!(std::mem::size_of::<FileHeader>() == ALIGN);

impl FileHeader {
    pub fn new(magic: [u8; 8], counts: &[u64]) -> Self {
        let mut h = Self {
            magic,
            format_version: FORMAT_VERSION,
            reserved: 0,
            counts: [0; 6],
        };
        h.counts[..counts.len()].copy_from_slice(counts);
        h
    }
}

/// Rounds a byte length up to the section alignment.
pub const fn align_up(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// Posting lists are kept per article field (defined by the KB, re-exported here).
pub use crate::kb::Field;

/// Where one posting list lies in `postings.bin`, in u32 units after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostingRef {
    pub offset: u64,
    pub len: u64,
}

/// HNSW parameters the graph was built with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphParams {
    pub m: usize,
    pub m0: usize,
    pub ef_construction: usize,
    pub max_level: usize,
    pub entry_point: u32,
    pub builder: String,
}

/// Size and checksum of one data file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    pub bytes: u64,
    pub sha256: String,
}

/// Everything an index version says about itself; `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub version: String,
    pub created_unix: u64,
    pub build_seconds: f64,
    pub model: crate::embed::ModelId,
    pub metric: String,
    pub points: u64,
    pub articles: u64,
    pub dim: usize,
    pub graph: GraphParams,
    /// Nodes not reachable from the entry point after the build's repair pass (0 when healthy).
    pub unreachable_after_repair: u64,
    /// Edges the repair pass added to reconnect orphans.
    pub repaired_edges: u64,
    pub files: BTreeMap<String, FileEntry>,
    pub postings: BTreeMap<Field, BTreeMap<String, PostingRef>>,
    /// Where the KB came from, for humans.
    #[serde(default)]
    pub source: String,
    /// The answer-or-handoff calibration fitted at build time (absent: the index always hands off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<crate::resolve::Calibration>,
}

//! The knowledge-base index: kefu's own file layout, built with hnsw_rs and
//! searched zero-copy through memmap2.
//!
//! - [`format`] — the files of a version directory and their headers
//! - [`build`] — embed the KB, build the graph, write a version atomically
//! - [`reader`] — open a version in O(1) and search it ([`Index`])
//! - [`search`] — the HNSW search loop and the exact scan
//! - [`filter`] — metadata filters and the exact-or-graph planner
//! - [`filter_cache`] — the points each filter admits, bounded in bytes (LRU)
//! - [`graph`] — the flat graph layout, reachability and orphan repair
//! - [`groups`] — points per article and each point's locale, for article scoring
//! - [`simd`] — the dot-product kernels
//! - [`synth`] — clustered synthetic corpora for recall and latency at scale

pub mod build;
pub mod filter;
pub mod filter_cache;
pub mod format;
pub mod graph;
pub mod groups;
pub mod reader;
pub mod search;
pub mod simd;
pub mod synth;

pub use build::{BuildParams, Corpus, Stage, build_version, stage_version};
pub use filter::{Filter, FilterError, Plan};
pub use format::{Field, Manifest};
pub use reader::{ArticleHit, Hit, Index, VerifyReport};

use std::path::PathBuf;

/// Why an index could not be built, opened, verified or searched.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a kefu index (no manifest.json, and no `current` naming a version)")]
    NotAnIndex { path: PathBuf },
    #[error("{path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path} has format version {found}; this kefu reads version {expected} (rebuild the index)")]
    Unsupported {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("{path}: checksum mismatch (manifest says {expected}, file has {found})")]
    Checksum {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("invalid query: {0}")]
    InvalidQuery(String),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error("build failed: {0}")]
    Build(String),
}

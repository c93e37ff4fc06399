//! The knowledge-base index: kefu's own file layout, built with hnsw_rs and
//! searched zero-copy through memmap2.
//!
//! - [`format`] — the files of a version directory, their headers and the manifest
//! - [`root`] — the index root: `current`, version names, staging directories ([`IndexRoot`])
//! - [`build`] — check a corpus, build the graph, write a version atomically
//! - [`corpus`] — the vectors a build indexes, embedded from a KB or given raw
//! - [`hnsw_build`] — the hnsw_rs graph builder and its copy into the flat layout
//! - [`reader`] — open a version in O(1) ([`Index`])
//! - [`query`] — search an opened version: exact scan or graph walk, hits per article
//! - [`verify`] — the O(size) checks `kefu verify` runs
//! - `file` — one data file: header, aligned sections, written and mapped with checks
//! - `points`, `graph_file`, `payload`, `postings` — one room per data file
//! - [`search`] — the HNSW search loop and the exact scan
//! - [`filter`] — metadata filters and the exact-or-graph planner
//! - [`filter_cache`] — the points each filter admits, bounded in bytes (LRU)
//! - [`graph`] — the flat graph layout, reachability and orphan repair
//! - [`groups`] — points per article and each point's locale, for article scoring
//! - [`head`] — a linear discriminant over articles, fitted from the vectors at first use
//! - [`centre`] — each locale's mean taken out of multilingual vectors, derived at first use
//! - [`simd`] — the dot-product kernels
//! - [`synth`] — clustered synthetic corpora for recall and latency at scale

pub mod build;
pub mod centre;
pub mod corpus;
mod file;
pub mod filter;
pub mod filter_cache;
pub mod format;
pub mod graph;
mod graph_file;
pub mod groups;
pub mod head;
pub mod hnsw_build;
mod payload;
mod points;
mod postings;
pub mod query;
pub mod reader;
pub mod root;
pub mod search;
pub mod simd;
pub mod synth;
pub mod verify;

pub use build::{
    BuildParams, M_RANGE, Stage, StagedVersion, build_version, check_m, stage_version, stage_with_graph,
};
pub use corpus::Corpus;
pub use filter::{Filter, FilterError, FilterLimits, Plan};
pub use format::{Field, Manifest};
pub use hnsw_build::{flatten_hnsw_rs, insert_hnsw_rs};
pub use query::{ArticleHit, Hit};
pub use reader::Index;
pub use root::{IndexRoot, LocateError};
pub use verify::VerifyReport;

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

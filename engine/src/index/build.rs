//! Building an index version: check the corpus, build the graph, repair
//! orphans, and write every file into a staging directory that
//! [`IndexRoot`] renames into place only when complete.

use super::IndexError;
use super::corpus::Corpus;
use super::format::*;
use super::graph::FlatGraph;
use super::hnsw_build::{flatten_hnsw_rs, insert_hnsw_rs};
use super::reader::Index;
use super::root::{IndexRoot, sync_dir, write_synced};
use super::search::Vectors;
use super::{graph_file, payload, points, postings};
use crate::resolve::{Calibration, CalibrationParams, calibrate};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// HNSW links per node (`m`) kefu builds with: below 2 there is no graph to
/// walk, and above 128 memory grows with no recall left to win.
pub const M_RANGE: RangeInclusive<usize> = 2..=128;

/// Checks an `m` against [`M_RANGE`], so the CLI and the engine refuse the same values.
pub fn check_m(m: usize) -> Result<usize, String> {
    if M_RANGE.contains(&m) {
        Ok(m)
    } else {
        Err(format!(
            "m (links per node) must be between {} and {}, got {m}",
            M_RANGE.start(),
            M_RANGE.end()
        ))
    }
}

/// Build-time knobs; the defaults suit KBs from hundreds to millions of questions.
#[derive(Debug, Clone)]
pub struct BuildParams {
    /// Links per node on layers ≥ 1 (level 0 gets 2·m); within [`M_RANGE`].
    pub m: usize,
    /// Beam width while inserting: higher builds slower and finds better links.
    pub ef_construction: usize,
    /// Texts per encoder call while embedding the KB.
    pub embed_batch: usize,
    /// How the answer-or-handoff confidence is calibrated after the graph is built.
    pub calibration: CalibrationParams,
    /// Vectors of questions the desk knows the KB does not answer (its logged
    /// handoffs): extra out-of-scope examples for the calibration.
    pub logged_out_of_scope: Vec<Vec<f32>>,
}

impl Default for BuildParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            embed_batch: 32,
            calibration: CalibrationParams::default(),
            logged_out_of_scope: Vec::new(),
        }
    }
}

/// A long build step, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Embed,
    Insert,
    Write,
}

/// Called as (stage, done, total) while a build runs.
pub type Progress<'a> = &'a (dyn Fn(Stage, u64, u64) + Sync);

/// A fully written version directory that is not yet visible to readers.
pub struct StagedVersion {
    root: IndexRoot,
    staging: PathBuf,
    pub manifest: Manifest,
}

impl StagedVersion {
    /// Where the files lie until [`commit`](Self::commit).
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// Fits the answer-or-handoff calibration on the staged files and records it in the pending manifest.
    pub fn calibrate(
        &mut self,
        params: &CalibrationParams,
        logged_out_of_scope: &[Vec<f32>],
    ) -> Result<Option<&Calibration>, IndexError> {
        let index = Index::open_parts(self.staging.clone(), self.manifest.clone())?;
        self.manifest.calibration = calibrate(&index, params, logged_out_of_scope)?;
        drop(index);
        write_manifest(&self.staging, &self.manifest)?;
        Ok(self.manifest.calibration.as_ref())
    }

    /// Makes the version visible: manifest renamed in, directory renamed into
    /// the root, `current` pointed at it, each step fsynced.
    pub fn commit(self) -> Result<PathBuf, IndexError> {
        std::fs::rename(self.staging.join(MANIFEST_PENDING), self.staging.join(MANIFEST)).map_err(|e| {
            IndexError::Io {
                path: self.staging.clone(),
                source: e,
            }
        })?;
        sync_dir(&self.staging)?;
        self.root.publish(&self.staging, &self.manifest.version)
    }
}

/// Builds the graph for `corpus` and writes a staged version under `root`.
pub fn stage_version(
    root: &Path,
    corpus: &Corpus,
    params: &BuildParams,
    progress: Progress,
) -> Result<StagedVersion, IndexError> {
    let started = Instant::now();
    check_m(params.m).map_err(IndexError::Build)?;
    if corpus.points() == 0 {
        return Err(IndexError::Build(
            "the knowledge base has no sample questions".into(),
        ));
    }
    let vectors = Vectors {
        data: &corpus.vectors,
        dim: corpus.dim,
    };
    if let Some(i) = corpus.vectors.iter().position(|x| !x.is_finite()) {
        return Err(IndexError::Build(format!(
            "vector {} has a non-finite value",
            i / corpus.dim
        )));
    }
    // Scores are dot products, and `kefu verify` refuses a vector that is not unit length.
    for (p, row) in corpus.vectors.chunks(corpus.dim.max(1)).enumerate() {
        let norm = super::format::norm_f64(row);
        if (norm - 1.0).abs() >= UNIT_TOLERANCE {
            return Err(IndexError::Build(format!(
                "vector {p} has length {norm:.6}, not 1 (normalise embeddings before indexing)"
            )));
        }
    }
    let graph = flatten_hnsw_rs(&insert_hnsw_rs(&vectors, params, progress), corpus.points());
    stage_with_graph(root, corpus, graph, params, started, progress)
}

/// Writes a staged version from a graph already built (by hnsw_rs or another builder).
pub fn stage_with_graph(
    root: &Path,
    corpus: &Corpus,
    mut graph: FlatGraph,
    params: &BuildParams,
    started: Instant,
    progress: Progress,
) -> Result<StagedVersion, IndexError> {
    let vectors = Vectors {
        data: &corpus.vectors,
        dim: corpus.dim,
    };
    let (repaired_edges, unreachable) = graph.repair_orphans(&vectors);
    if repaired_edges > 0 {
        tracing::info!(repaired_edges, unreachable, "reconnected orphaned nodes");
    }
    if unreachable > 0 {
        tracing::warn!(unreachable, "nodes remain unreachable from the entry point");
    }

    let root = IndexRoot::new(root);
    let created_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (version, staging) = root.create_staging(created_unix)?;
    let mut guard = RemoveOnDrop(Some(staging.clone()));

    let mut files = BTreeMap::new();
    progress(Stage::Write, 0, 5);
    files.insert(
        VECTORS.to_string(),
        points::write_vectors(&staging, &corpus.vectors, corpus.dim)?,
    );
    progress(Stage::Write, 1, 5);
    files.insert(GRAPH.to_string(), graph_file::write(&staging, &graph)?);
    progress(Stage::Write, 2, 5);
    files.insert(
        POINTS.to_string(),
        points::write_points(&staging, &corpus.point_article, &corpus.point_question)?,
    );
    progress(Stage::Write, 3, 5);
    files.insert(ARTICLES.to_string(), payload::write(&staging, &corpus.articles)?);
    progress(Stage::Write, 4, 5);
    let (posting_dir, ids) = postings::build(corpus);
    files.insert(POSTINGS.to_string(), postings::write(&staging, &ids)?);
    progress(Stage::Write, 5, 5);

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        version,
        created_unix,
        build_seconds: started.elapsed().as_secs_f64(),
        model: corpus.model.clone(),
        metric: "cosine".into(),
        points: corpus.points() as u64,
        articles: corpus.articles.len() as u64,
        dim: corpus.dim,
        graph: GraphParams {
            m: graph.m,
            m0: graph.m0,
            ef_construction: params.ef_construction,
            max_level: graph.max_level,
            entry_point: graph.entry,
            builder: "hnsw_rs".into(),
        },
        unreachable_after_repair: unreachable,
        repaired_edges,
        files,
        postings: posting_dir,
        source: corpus.source.clone(),
        calibration: None,
    };
    write_manifest(&staging, &manifest)?;
    // Disarmed, not forgotten: forgetting it leaked its path (LeakSanitizer, `make fuzz`).
    guard.0 = None;
    Ok(StagedVersion {
        root,
        staging,
        manifest,
    })
}

/// Builds, calibrates and commits in one step: what `kefu build` does.
pub fn build_version(
    root: &Path,
    corpus: &Corpus,
    params: &BuildParams,
    progress: Progress,
) -> Result<PathBuf, IndexError> {
    let mut staged = stage_version(root, corpus, params, progress)?;
    staged.calibrate(&params.calibration, &params.logged_out_of_scope)?;
    staged.commit()
}

/// Writes the pending manifest of a staged version and fsyncs it.
fn write_manifest(staging: &Path, manifest: &Manifest) -> Result<(), IndexError> {
    let json = serde_json::to_vec_pretty(manifest).map_err(|e| IndexError::Build(e.to_string()))?;
    write_synced(&staging.join(MANIFEST_PENDING), &json)?;
    sync_dir(staging)
}

/// Removes a half-written staging directory when a build fails part-way.
struct RemoveOnDrop(Option<PathBuf>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_dir_all(p);
        }
    }
}

//! Building an index version: embed the KB, build the graph with hnsw_rs,
//! repair orphans, and write kefu's files into a staging directory that is
//! renamed into place only when complete.

use super::IndexError;
use super::format::*;
use super::graph::FlatGraph;
use super::reader::Index;
use super::search::Vectors;
use crate::embed::{EmbedError, Encoder, ModelId, TextRole};
use crate::kb::Article;
use crate::resolve::{Calibration, CalibrationParams, calibrate};
use hnsw_rs::prelude::{DistDot, Hnsw};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Build-time knobs; the defaults suit KBs from hundreds to millions of questions.
#[derive(Debug, Clone)]
pub struct BuildParams {
    /// Links per node on layers ≥ 1 (level 0 gets 2·m).
    pub m: usize,
    /// Beam width while inserting: higher builds slower and finds better links.
    pub ef_construction: usize,
    /// Texts per encoder call while embedding the KB.
    pub embed_batch: usize,
    /// How the answer-or-handoff confidence is calibrated after the graph is built.
    pub calibration: CalibrationParams,
}

impl Default for BuildParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            embed_batch: 32,
            calibration: CalibrationParams::default(),
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

/// Vectors ready to index: one per sample question, each pointing at its article.
pub struct Corpus {
    pub articles: Vec<Article>,
    pub dim: usize,
    /// `points × dim`, unit length.
    pub vectors: Vec<f32>,
    pub point_article: Vec<u32>,
    /// Position in the article's [`Article::samples`], or [`TITLE_QUESTION`] for "the title".
    pub point_question: Vec<u32>,
    pub model: ModelId,
    pub source: String,
}

impl Corpus {
    /// Embeds every sample question of every article, batching texts of similar length.
    pub fn embed(
        articles: Vec<Article>,
        encoder: &dyn Encoder,
        batch: usize,
        source: &str,
        progress: Progress,
    ) -> Result<Self, EmbedError> {
        let mut texts: Vec<(&str, u32, u32)> = Vec::new();
        for (a, art) in articles.iter().enumerate() {
            for (q, sample) in art.samples().enumerate() {
                texts.push((sample.text, a as u32, q as u32));
            }
        }
        // Similar lengths in one batch waste less padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].0.len());
        let dim = encoder.dim();
        let total = texts.len() as u64;
        let mut vectors = vec![0f32; texts.len() * dim];
        for (done, chunk) in order.chunks(batch.max(1)).enumerate() {
            let batch_texts: Vec<&str> = chunk.iter().map(|&i| texts[i].0).collect();
            let out = encoder.embed_as(TextRole::Query, &batch_texts)?;
            for (&i, v) in chunk.iter().zip(out) {
                vectors[i * dim..(i + 1) * dim].copy_from_slice(&v);
            }
            progress(
                Stage::Embed,
                ((done * batch.max(1)) as u64 + chunk.len() as u64).min(total),
                total,
            );
        }
        Ok(Self {
            dim,
            vectors,
            point_article: texts.iter().map(|t| t.1).collect(),
            point_question: texts.iter().map(|t| t.2).collect(),
            model: encoder.model_id()?.clone(),
            source: source.to_string(),
            articles,
        })
    }

    /// A corpus of raw vectors, one article per vector (synthetic benches, external embeddings).
    pub fn from_vectors(vectors: Vec<f32>, dim: usize, model: ModelId, source: &str) -> Self {
        let n = vectors.len() / dim;
        let articles = (0..n)
            .map(|i| Article {
                id: format!("p{i}"),
                title: None,
                answer: String::new(),
                questions: Vec::new(),
                category: None,
                locale: None,
                markets: Vec::new(),
                tags: Vec::new(),
                variants: Default::default(),
            })
            .collect();
        Self {
            articles,
            dim,
            vectors,
            point_article: (0..n as u32).collect(),
            point_question: vec![TITLE_QUESTION; n],
            model,
            source: source.to_string(),
        }
    }

    pub fn points(&self) -> usize {
        self.point_article.len()
    }
}

/// The hnsw_rs graph type kefu builds with (dot-product distance on unit vectors).
pub type HnswRs<'a> = Hnsw<'a, f32, DistDot>;

/// Inserts every vector into a new hnsw_rs graph (parallel insert).
pub fn insert_hnsw_rs<'a>(vectors: &Vectors<'a>, params: &BuildParams, progress: Progress) -> HnswRs<'a> {
    let n = vectors.len();
    let m = params.m.clamp(2, 128);
    let hnsw: HnswRs = Hnsw::new(m, n.max(1), 16, params.ef_construction.max(m), DistDot {});
    let rows: Vec<(&[f32], usize)> = (0..n).map(|i| (vectors.row(i as u32), i)).collect();
    let step = 5_000;
    for (c, chunk) in rows.chunks(step).enumerate() {
        hnsw.parallel_insert_slice(&chunk.to_vec());
        progress(Stage::Insert, ((c * step) + chunk.len()) as u64, n as u64);
    }
    hnsw
}

/// Copies an hnsw_rs graph into kefu's flat layout (level 0 gets 2·m slots).
pub fn flatten_hnsw_rs(hnsw: &HnswRs, n: usize) -> FlatGraph {
    let m = hnsw.get_max_nb_connection() as usize;
    // Levels first (to size the upper lists), then every layer's links.
    let mut levels = vec![0u8; n];
    let mut links: Vec<Vec<Vec<u32>>> = vec![Vec::new(); n];
    for point in hnsw.get_point_indexation() {
        let id = point.get_origin_id();
        levels[id] = point.get_point_id().0;
        links[id] = point
            .get_neighborhood_id()
            .into_iter()
            .map(|layer| layer.into_iter().map(|nb| nb.d_id as u32).collect())
            .collect();
    }
    let mut g = FlatGraph::with_levels(levels, 2 * m, m);
    for (u, layers) in links.into_iter().enumerate() {
        for (layer, nbs) in layers.into_iter().enumerate() {
            if layer > g.levels[u] as usize {
                continue;
            }
            let slots = g.slots_mut(u as u32, layer);
            for (slot, v) in slots.iter_mut().zip(nbs.into_iter().filter(|&v| v as usize != u)) {
                *slot = v;
            }
        }
    }
    g
}

/// A fully written version directory that is not yet visible to readers.
pub struct StagedVersion {
    root: PathBuf,
    staging: PathBuf,
    pub manifest: Manifest,
}

impl StagedVersion {
    /// Where the files lie until [`commit`](Self::commit).
    pub fn staging_dir(&self) -> &Path {
        &self.staging
    }

    /// Fits the answer-or-handoff calibration on the staged files and records it in the pending manifest.
    pub fn calibrate(&mut self, params: &CalibrationParams) -> Result<Option<&Calibration>, IndexError> {
        let index = Index::open_parts(self.staging.clone(), self.manifest.clone())?;
        self.manifest.calibration = calibrate(&index, params)?;
        drop(index);
        let json = serde_json::to_vec_pretty(&self.manifest).map_err(|e| IndexError::Build(e.to_string()))?;
        write_synced(&self.staging.join(MANIFEST_PENDING), &json)?;
        sync_dir(&self.staging)?;
        Ok(self.manifest.calibration.as_ref())
    }

    /// Makes the version visible: manifest renamed in, directory renamed into
    /// the root, `current` pointed at it, each step fsynced.
    pub fn commit(self) -> Result<PathBuf, IndexError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |e| IndexError::Io { path, source: e }
        };
        std::fs::rename(self.staging.join(MANIFEST_PENDING), self.staging.join(MANIFEST))
            .map_err(io(&self.staging))?;
        sync_dir(&self.staging)?;
        let final_dir = self.root.join(&self.manifest.version);
        std::fs::rename(&self.staging, &final_dir).map_err(io(&final_dir))?;
        sync_dir(&self.root)?;
        set_current(&self.root, &self.manifest.version)?;
        Ok(final_dir)
    }
}

/// Points `<root>/current` at a version, atomically.
pub fn set_current(root: &Path, version: &str) -> Result<(), IndexError> {
    let tmp = root.join(format!(".{CURRENT}.tmp"));
    write_synced(&tmp, format!("{version}\n").as_bytes())?;
    let cur = root.join(CURRENT);
    std::fs::rename(&tmp, &cur).map_err(|e| IndexError::Io { path: cur, source: e })?;
    sync_dir(root)
}

/// Builds the graph for `corpus` and writes a staged version under `root`.
pub fn stage_version(
    root: &Path,
    corpus: &Corpus,
    params: &BuildParams,
    progress: Progress,
) -> Result<StagedVersion, IndexError> {
    let started = Instant::now();
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
        let norm = row
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if (norm - 1.0).abs() >= 1e-3 {
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

    std::fs::create_dir_all(root).map_err(|e| IndexError::Io {
        path: root.to_path_buf(),
        source: e,
    })?;
    let created_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    remove_stale_staging(root);
    let version = unique_version_name(root, created_unix);
    let staging = root.join(format!("{STAGING_PREFIX}{version}"));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).map_err(|e| IndexError::Io {
        path: staging.clone(),
        source: e,
    })?;
    let mut guard = RemoveOnDrop(Some(staging.clone()));

    let mut files = BTreeMap::new();
    let n = corpus.points() as u64;
    progress(Stage::Write, 0, 5);
    files.insert(
        VECTORS.to_string(),
        write_file(
            &staging.join(VECTORS),
            FileHeader::new(MAGIC_VECTORS, &[n, corpus.dim as u64]),
            &[bytemuck::cast_slice(&corpus.vectors)],
        )?,
    );
    progress(Stage::Write, 1, 5);
    let levels_padded = pad(&graph.levels);
    files.insert(
        GRAPH.to_string(),
        write_file(
            &staging.join(GRAPH),
            FileHeader::new(
                MAGIC_GRAPH,
                &[
                    n,
                    graph.m0 as u64,
                    graph.m as u64,
                    graph.max_level as u64,
                    graph.entry as u64,
                    graph.upper.len() as u64,
                ],
            ),
            &[
                &pad(bytemuck::cast_slice(&graph.level0)),
                &levels_padded,
                &pad(bytemuck::cast_slice(&graph.upper_offsets)),
                bytemuck::cast_slice(&graph.upper),
            ],
        )?,
    );
    progress(Stage::Write, 2, 5);
    files.insert(
        POINTS.to_string(),
        write_file(
            &staging.join(POINTS),
            FileHeader::new(MAGIC_POINTS, &[n]),
            &[
                &pad(bytemuck::cast_slice(&corpus.point_article)),
                bytemuck::cast_slice(&corpus.point_question),
            ],
        )?,
    );
    progress(Stage::Write, 3, 5);
    let (offsets, payload) = article_store(&corpus.articles)?;
    files.insert(
        ARTICLES.to_string(),
        write_file(
            &staging.join(ARTICLES),
            FileHeader::new(
                MAGIC_ARTICLES,
                &[corpus.articles.len() as u64, payload.len() as u64],
            ),
            &[&pad(bytemuck::cast_slice(&offsets)), &payload],
        )?,
    );
    progress(Stage::Write, 4, 5);
    let (postings, ids) = posting_lists(corpus);
    files.insert(
        POSTINGS.to_string(),
        write_file(
            &staging.join(POSTINGS),
            FileHeader::new(MAGIC_POSTINGS, &[ids.len() as u64]),
            &[bytemuck::cast_slice(&ids)],
        )?,
    );
    progress(Stage::Write, 5, 5);

    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        version,
        created_unix,
        build_seconds: started.elapsed().as_secs_f64(),
        model: corpus.model.clone(),
        metric: "cosine".into(),
        points: n,
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
        postings,
        source: corpus.source.clone(),
        calibration: None,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| IndexError::Build(e.to_string()))?;
    write_synced(&staging.join(MANIFEST_PENDING), &json)?;
    sync_dir(&staging)?;
    // Disarmed, not forgotten: forgetting it leaked its path (LeakSanitizer, `make fuzz`).
    guard.0 = None;
    Ok(StagedVersion {
        root: root.to_path_buf(),
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
    staged.calibrate(&params.calibration)?;
    staged.commit()
}

/// Staging directories are named `.staging-<version>`.
pub const STAGING_PREFIX: &str = ".staging-";

/// A staging directory untouched this long belongs to a build that died.
///
/// By age rather than by the builder's pid: a root shared between
/// containers or hosts holds builds whose pids this process cannot see.
/// A live build creates its staging directory only after the graph is built
/// and writes every file within seconds to minutes of it, so an hour is a
/// wide margin.
pub const STALE_STAGING_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// `.staging-*` directories under `root` whose newest modification (of the
/// directory or any file in it) is older than [`STALE_STAGING_AGE`].
pub fn stale_staging_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let now = std::time::SystemTime::now();
    let mut stale: Vec<PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|dir| {
            newest_mtime(dir)
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age > STALE_STAGING_AGE)
        })
        .collect();
    stale.sort();
    stale
}

fn newest_mtime(dir: &Path) -> Option<std::time::SystemTime> {
    let own = std::fs::metadata(dir).and_then(|m| m.modified()).ok()?;
    let files = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| e.metadata().and_then(|m| m.modified()).ok());
    files.chain(std::iter::once(own)).max()
}

/// Removes what builds killed mid-way left behind (see [`stale_staging_dirs`]).
fn remove_stale_staging(root: &Path) {
    for dir in stale_staging_dirs(root) {
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "removed a stale staging directory left by a dead build")
            }
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a stale staging directory")
            }
        }
    }
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

fn unique_version_name(root: &Path, unix: u64) -> String {
    let base = format!("v{unix}");
    if !root.join(&base).exists() {
        return base;
    }
    (1..)
        .map(|i| format!("{base}-{i}"))
        .find(|v| !root.join(v).exists())
        .unwrap()
}

fn pad(bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    v.resize(align_up(bytes.len()), 0);
    v
}

/// Offsets (u64, articles + 1) and the concatenated JSON of every article.
fn article_store(articles: &[Article]) -> Result<(Vec<u64>, Vec<u8>), IndexError> {
    let mut offsets = Vec::with_capacity(articles.len() + 1);
    let mut payload = Vec::new();
    for a in articles {
        offsets.push(payload.len() as u64);
        serde_json::to_writer(&mut payload, a).map_err(|e| IndexError::Build(e.to_string()))?;
    }
    offsets.push(payload.len() as u64);
    Ok((offsets, payload))
}

type PostingDir = BTreeMap<Field, BTreeMap<String, PostingRef>>;

/// Sorted point ids for every (field, value), concatenated, with their directory.
fn posting_lists(corpus: &Corpus) -> (PostingDir, Vec<u32>) {
    let mut lists: BTreeMap<Field, BTreeMap<String, Vec<u32>>> = BTreeMap::new();
    for (p, &a) in corpus.point_article.iter().enumerate() {
        let art = &corpus.articles[a as usize];
        for f in Field::ALL {
            // A point's locale is its sample's own, so a locale filter finds text in that language.
            let values = match f {
                Field::Locale => art
                    .sample(corpus.point_question[p])
                    .and_then(|s| s.locale)
                    .into_iter()
                    .collect(),
                _ => art.field_values(f),
            };
            for v in values {
                lists
                    .entry(f)
                    .or_default()
                    .entry(v.to_string())
                    .or_default()
                    .push(p as u32);
            }
        }
    }
    let mut dir = PostingDir::new();
    let mut ids = Vec::new();
    for (f, values) in lists {
        for (v, mut pts) in values {
            pts.sort_unstable();
            pts.dedup();
            dir.entry(f).or_default().insert(
                v,
                PostingRef {
                    offset: ids.len() as u64,
                    len: pts.len() as u64,
                },
            );
            ids.extend(pts);
        }
    }
    (dir, ids)
}

/// Writes header + sections, fsyncs, and returns the size and checksum.
fn write_file(path: &Path, header: FileHeader, sections: &[&[u8]]) -> Result<FileEntry, IndexError> {
    let io = |e| IndexError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    for part in std::iter::once(bytemuck::bytes_of(&header)).chain(sections.iter().copied()) {
        w.write_all(part).map_err(io)?;
        hasher.update(part);
        bytes += part.len() as u64;
    }
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(FileEntry {
        bytes,
        sha256: format!("{:x}", hasher.finalize()),
    })
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), IndexError> {
    let io = |e| IndexError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::File::create(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn sync_dir(dir: &Path) -> Result<(), IndexError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| IndexError::Io {
            path: dir.to_path_buf(),
            source: e,
        })
}

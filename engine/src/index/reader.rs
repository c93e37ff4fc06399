//! Opening an index version zero-copy: the manifest, then each file's room
//! ([`PointFiles`], [`GraphFile`], [`PayloadStore`], [`Postings`]) maps and
//! checks its own bytes. Queries are in [`super::query`], checks in
//! [`super::verify`].

use super::IndexError;
use super::centre::LocaleCentring;
use super::filter::Filter;
use super::format::*;
use super::graph::GraphRef;
use super::graph_file::GraphFile;
use super::groups::PointGroups;
use super::head::ArticleHead;
use super::payload::PayloadStore;
use super::points::PointFiles;
use super::postings::Postings;
use super::query::{ArticleHit, Hit};
use super::root::resolve_version_dir;
use super::search::Vectors;
use crate::kb::Article;
use roaring::RoaringBitmap;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// An opened, read-only index version. Cheap to share behind an `Arc`.
pub struct Index {
    pub(crate) dir: PathBuf,
    pub(crate) manifest: Manifest,
    pub(crate) point_files: PointFiles,
    pub(crate) graph_file: GraphFile,
    pub(crate) payload: PayloadStore,
    pub(crate) postings: Postings,
    by_id: OnceLock<HashMap<String, u32>>,
    groups: OnceLock<PointGroups>,
    head: OnceLock<Option<ArticleHead>>,
    centring: OnceLock<Option<LocaleCentring>>,
}

impl Index {
    /// Opens a version directory, or the version an index root's `current` names.
    ///
    /// Checks magic, format version and every file size against the manifest;
    /// reads no vector or graph data, so it costs the same for any index size.
    /// Full checksums are [`Index::verify`]'s job.
    pub fn open(path: &Path) -> Result<Self, IndexError> {
        let dir = resolve_version_dir(path)?;
        let manifest_path = dir.join(MANIFEST);
        let bytes = std::fs::read(&manifest_path).map_err(|e| IndexError::Io {
            path: manifest_path.clone(),
            source: e,
        })?;
        let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| IndexError::Corrupt {
            path: manifest_path.clone(),
            reason: e.to_string(),
        })?;
        Self::open_parts(dir, manifest)
    }

    /// Opens the files of `dir` as `manifest` describes them (a staged version before commit).
    pub(crate) fn open_parts(dir: PathBuf, manifest: Manifest) -> Result<Self, IndexError> {
        let manifest_path = dir.join(MANIFEST);
        if manifest.format_version != FORMAT_VERSION {
            return Err(IndexError::Unsupported {
                path: manifest_path,
                found: manifest.format_version,
                expected: FORMAT_VERSION,
            });
        }
        let corrupt = |reason: String| IndexError::Corrupt {
            path: manifest_path.clone(),
            reason,
        };
        // Point and article ids are u32 and so are graph slots; bounding the
        // manifest's counts here keeps every size the files compute far from
        // overflow (n·dim·4 < 2^50 on 64-bit).
        let m = &manifest;
        for (field, value, max) in [
            ("points", m.points, u32::MAX as u64),
            ("articles", m.articles, u32::MAX as u64 - 1),
            ("dim", m.dim as u64, 1 << 16),
            ("graph.m0", m.graph.m0 as u64, 1 << 16),
            ("graph.m", m.graph.m as u64, 1 << 16),
            // A node's level is a u8; a larger top layer made search climb
            // through up to 2^64 empty layers.
            ("graph.max_level", m.graph.max_level as u64, u8::MAX as u64),
        ] {
            if value > max {
                return Err(corrupt(format!("{field} is {value}, more than {max}")));
            }
        }
        if m.dim == 0 || m.dim != m.model.space.dim {
            return Err(corrupt(format!(
                "dimension {} disagrees with the model's {}",
                m.dim, m.model.space.dim
            )));
        }
        Ok(Self {
            point_files: PointFiles::open(&dir, &manifest)?,
            graph_file: GraphFile::open(&dir, &manifest)?,
            payload: PayloadStore::open(&dir, &manifest)?,
            postings: Postings::open(&dir, &manifest)?,
            dir,
            manifest,
            by_id: OnceLock::new(),
            groups: OnceLock::new(),
            head: OnceLock::new(),
            centring: OnceLock::new(),
        })
    }

    /// The version directory, for messages and for finding its root.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the version says about itself.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Dimension of every stored vector (and of every query).
    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    /// Number of points (sample questions and titles with a vector).
    pub fn points(&self) -> usize {
        self.manifest.points as usize
    }

    /// Number of articles in the payload store.
    pub fn article_count(&self) -> usize {
        self.manifest.articles as usize
    }

    /// The stored vectors, in place.
    pub fn vectors(&self) -> Vectors<'_> {
        self.point_files.vectors()
    }

    /// The graph, in place.
    pub fn graph(&self) -> GraphRef<'_> {
        self.graph_file.view(&self.manifest.graph)
    }

    /// Points grouped per article, and each point's locale (derived once, on first use).
    pub(crate) fn groups(&self) -> &PointGroups {
        self.groups.get_or_init(|| PointGroups::derive(self))
    }

    /// The version's article discriminant, fitted from its vectors at first use
    /// (`None` when it has nothing to discriminate): [`ArticleHead`].
    pub fn head(&self) -> Option<&ArticleHead> {
        self.head
            .get_or_init(|| ArticleHead::fit(&self.vectors(), self.point_article(), self.article_count()))
            .as_ref()
    }

    /// The version's per-locale centring, derived from its vectors at first use (`None`
    /// for fewer than two locales): [`LocaleCentring`].
    pub fn centring(&self) -> Option<&LocaleCentring> {
        self.centring
            .get_or_init(|| LocaleCentring::fit(&self.vectors(), self.groups()))
            .as_ref()
    }

    /// Each point's article (index into the payload store), so exported vectors keep their owner.
    pub fn point_article(&self) -> &[u32] {
        self.point_files.point_article()
    }

    /// Each point's sample number in its article (or the legacy title marker): calibration reads the texts.
    pub(crate) fn point_question(&self) -> &[u32] {
        self.point_files.point_question()
    }

    /// Sorted points of one (field, value), in place; empty if the value is unknown.
    pub fn posting(&self, field: Field, value: &str) -> &[u32] {
        self.postings.list(field, value)
    }

    /// Distinct values of a field with their point counts, for `kefu inspect`.
    pub fn field_values(&self, field: Field) -> Vec<(String, u64)> {
        self.postings.values(field)
    }

    /// The article stored at `idx`.
    pub fn article(&self, idx: u32) -> Result<Article, IndexError> {
        self.payload.article(idx)
    }

    /// Finds an article by its KB id (builds a map on first use).
    pub fn article_index(&self, id: &str) -> Option<u32> {
        self.by_id
            .get_or_init(|| {
                (0..self.article_count() as u32)
                    .filter_map(|i| self.article(i).ok().map(|a| (a.id, i)))
                    .collect()
            })
            .get(id)
            .copied()
    }

    /// Reads the article and matched sample question of a hit.
    pub fn resolve(&self, hit: &Hit) -> Result<ArticleHit, IndexError> {
        let article = self.article(hit.article)?;
        let q = self
            .point_files
            .point_question()
            .get(hit.point as usize)
            .copied()
            .unwrap_or(TITLE_QUESTION);
        let (matched_question, matched_locale) = article
            .sample(q)
            .map(|s| (s.text.to_string(), s.locale.map(str::to_string)))
            .unwrap_or_default();
        Ok(ArticleHit {
            article,
            score: hit.score,
            matched_question,
            matched_locale,
        })
    }

    /// The points a filter admits, computed once per distinct filter (and
    /// remembered within [`super::filter_cache::DEFAULT_BUDGET`] bytes, least
    /// recently used first out).
    ///
    /// Never holds an id past the last point, whatever postings.bin says:
    /// search scores every admitted id against `vectors.bin`.
    pub fn filter_points(&self, filter: &Filter) -> Arc<RoaringBitmap> {
        self.postings.filter_points(filter)
    }

    /// Bytes of filter bitmaps and their keys the cache holds now.
    #[doc(hidden)]
    pub fn filter_cache_bytes(&self) -> usize {
        self.postings.cache_bytes()
    }
}

//! Opening an index version zero-copy and answering queries from the mapped bytes.

use super::IndexError;
use super::filter::{Filter, Plan, plan};
use super::filter_cache::{DEFAULT_BUDGET, FilterCache};
use super::format::*;
use super::graph::GraphRef;
use super::search::{Vectors, exact_scan, hnsw_search};
use crate::kb::Article;
use memmap2::Mmap;
use roaring::RoaringBitmap;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

/// One search result: an article, its best-matching point, and the cosine score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    pub article: u32,
    pub point: u32,
    pub score: f32,
}

/// A hit with its article read from the payload store.
#[derive(Debug, Clone, PartialEq)]
pub struct ArticleHit {
    pub article: Article,
    pub score: f32,
    /// The sample question (or title) whose vector matched.
    pub matched_question: String,
    /// The locale that sample is written in.
    pub matched_locale: Option<String>,
}

/// What `kefu verify` found.
#[derive(Debug, Clone)]
pub struct VerifyReport {
    pub files_checked: usize,
    pub points: u64,
    pub unreachable: u64,
    /// `.staging-*` directories beside the version left by builds that died
    /// (the next `kefu build` removes them).
    pub stale_staging: Vec<PathBuf>,
}

/// Byte ranges of the graph file's sections.
#[derive(Debug, Clone, Copy)]
struct GraphLayout {
    level0: (usize, usize),
    levels: (usize, usize),
    upper_offsets: (usize, usize),
    upper: (usize, usize),
}

/// An opened, read-only index version. Cheap to share behind an `Arc`.
pub struct Index {
    dir: PathBuf,
    manifest: Manifest,
    vectors: Mmap,
    graph: Mmap,
    points: Mmap,
    articles: Mmap,
    postings: Mmap,
    graph_layout: GraphLayout,
    article_offsets: (usize, usize),
    payload_start: usize,
    filter_cache: Mutex<FilterCache>,
    by_id: OnceLock<HashMap<String, u32>>,
    groups: OnceLock<super::groups::PointGroups>,
}

/// Up to this many points, [`Index::search_where`] scans exactly.
const EXACT_WHERE_MAX: usize = 5000;

/// Vectors must be unit length within this (what `verify` checks).
const UNIT_TOLERANCE: f64 = 1e-3;

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
        let corrupt = |file: &str, reason: String| IndexError::Corrupt {
            path: dir.join(file),
            reason,
        };
        // Point and article ids are u32 and so are graph slots; bounding the
        // manifest's counts here keeps every size computed below far from
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
                return Err(corrupt(MANIFEST, format!("{field} is {value}, more than {max}")));
            }
        }
        let n = manifest.points as usize;
        let dim = manifest.dim;
        if dim == 0 || dim != manifest.model.dim {
            return Err(corrupt(
                MANIFEST,
                format!(
                    "dimension {dim} disagrees with the model's {}",
                    manifest.model.dim
                ),
            ));
        }

        let vectors = map_checked(&dir, VECTORS, &manifest, MAGIC_VECTORS, 64 + n * dim * 4)?;
        check_counts(&dir, VECTORS, &vectors, &[n as u64, dim as u64])?;

        let g = &manifest.graph;
        let graph_map = map_file(&dir, GRAPH, &manifest, MAGIC_GRAPH)?;
        let gh = header(&graph_map);
        let upper_len = usize::try_from(gh.counts[5])
            .ok()
            .filter(|&u| u <= graph_map.len() / 4)
            .ok_or_else(|| {
                corrupt(
                    GRAPH,
                    format!("upper list length {} exceeds the file", gh.counts[5]),
                )
            })?;
        let level0 = (64, 64 + n * g.m0 * 4);
        let levels_start = 64 + align_up(n * g.m0 * 4);
        let levels = (levels_start, levels_start + n);
        let uo_start = levels_start + align_up(n);
        let upper_offsets = (uo_start, uo_start + n * 4);
        let up_start = uo_start + align_up(n * 4);
        let upper = (up_start, up_start + upper_len * 4);
        expect_len(&dir, GRAPH, &graph_map, upper.1)?;
        check_counts(
            &dir,
            GRAPH,
            &graph_map,
            &[
                n as u64,
                g.m0 as u64,
                g.m as u64,
                g.max_level as u64,
                g.entry_point as u64,
            ],
        )?;
        if n > 0 && g.entry_point as usize >= n {
            return Err(corrupt(
                GRAPH,
                format!("entry point {} is past the last node", g.entry_point),
            ));
        }

        let points = map_checked(
            &dir,
            POINTS,
            &manifest,
            MAGIC_POINTS,
            64 + align_up(n * 4) + n * 4,
        )?;
        check_counts(&dir, POINTS, &points, &[n as u64])?;

        let articles = map_file(&dir, ARTICLES, &manifest, MAGIC_ARTICLES)?;
        let a = manifest.articles as usize;
        let ah = header(&articles);
        let offsets = (64, 64 + (a + 1) * 8);
        let payload_start = 64 + align_up((a + 1) * 8);
        let payload_end = usize::try_from(ah.counts[1])
            .ok()
            .and_then(|p| payload_start.checked_add(p))
            .ok_or_else(|| {
                corrupt(
                    ARTICLES,
                    format!("payload size {} exceeds the file", ah.counts[1]),
                )
            })?;
        expect_len(&dir, ARTICLES, &articles, payload_end)?;
        check_counts(&dir, ARTICLES, &articles, &[a as u64])?;

        let postings = map_file(&dir, POSTINGS, &manifest, MAGIC_POSTINGS)?;
        let ids = header(&postings).counts[0];
        let ids_end = usize::try_from(ids)
            .ok()
            .and_then(|i| i.checked_mul(4)?.checked_add(64))
            .ok_or_else(|| corrupt(POSTINGS, format!("id count {ids} exceeds the file")))?;
        expect_len(&dir, POSTINGS, &postings, ids_end)?;
        // Every range must lie inside postings.bin, so `posting` can slice
        // without checks. The ids inside are not read here (that is
        // O(postings), and open is O(1)): `verify` checks each is a point,
        // and `filter_points` drops any that is not.
        for (field, values) in &manifest.postings {
            for (value, r) in values {
                if r.offset.checked_add(r.len).is_none_or(|end| end > ids) {
                    return Err(corrupt(
                        MANIFEST,
                        format!(
                            "postings.{}.{value:?} (offset {}, len {}) lies past the end of postings.bin ({ids} ids)",
                            field.name(),
                            r.offset,
                            r.len
                        ),
                    ));
                }
            }
        }
        // Vectors are read in graph order, not sequentially: don't let the
        // kernel read ahead pages a query will not touch.
        let _ = vectors.advise(memmap2::Advice::Random);
        let _ = graph_map.advise(memmap2::Advice::Random);

        Ok(Self {
            dir,
            manifest,
            vectors,
            graph: graph_map,
            points,
            articles,
            postings,
            graph_layout: GraphLayout {
                level0,
                levels,
                upper_offsets,
                upper,
            },
            article_offsets: offsets,
            payload_start,
            filter_cache: Mutex::new(FilterCache::new(DEFAULT_BUDGET)),
            by_id: OnceLock::new(),
            groups: OnceLock::new(),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    pub fn dim(&self) -> usize {
        self.manifest.dim
    }

    pub fn points(&self) -> usize {
        self.manifest.points as usize
    }

    pub fn article_count(&self) -> usize {
        self.manifest.articles as usize
    }

    /// The stored vectors, in place.
    pub fn vectors(&self) -> Vectors<'_> {
        Vectors {
            data: bytemuck::cast_slice(&self.vectors[64..]),
            dim: self.manifest.dim,
        }
    }

    /// The graph, in place.
    pub fn graph(&self) -> GraphRef<'_> {
        let l = &self.graph_layout;
        let g = &self.manifest.graph;
        GraphRef {
            level0: bytemuck::cast_slice(&self.graph[l.level0.0..l.level0.1]),
            levels: &self.graph[l.levels.0..l.levels.1],
            upper_offsets: bytemuck::cast_slice(&self.graph[l.upper_offsets.0..l.upper_offsets.1]),
            upper: bytemuck::cast_slice(&self.graph[l.upper.0..l.upper.1]),
            m0: g.m0,
            m: g.m,
            entry: g.entry_point,
            max_level: g.max_level,
        }
    }

    /// Points grouped per article, and each point's locale (derived once, on first use).
    pub(crate) fn groups(&self) -> &super::groups::PointGroups {
        self.groups
            .get_or_init(|| super::groups::PointGroups::derive(self))
    }

    pub(crate) fn point_article(&self) -> &[u32] {
        let n = self.points();
        bytemuck::cast_slice(&self.points[64..64 + n * 4])
    }

    fn point_question(&self) -> &[u32] {
        let n = self.points();
        let s = 64 + align_up(n * 4);
        bytemuck::cast_slice(&self.points[s..s + n * 4])
    }

    /// Sorted points of one (field, value), in place; empty if the value is unknown.
    pub fn posting(&self, field: Field, value: &str) -> &[u32] {
        let Some(r) = self.manifest.postings.get(&field).and_then(|m| m.get(value)) else {
            return &[];
        };
        let ids: &[u32] = bytemuck::cast_slice(&self.postings[64..]);
        // `open` checked the range; stay panic-free regardless.
        let range = usize::try_from(r.offset)
            .ok()
            .zip(usize::try_from(r.len).ok())
            .and_then(|(s, l)| Some(s..s.checked_add(l)?));
        range.and_then(|r| ids.get(r)).unwrap_or(&[])
    }

    /// Distinct values of a field with their point counts, for `kefu inspect`.
    pub fn field_values(&self, field: Field) -> Vec<(String, u64)> {
        self.manifest
            .postings
            .get(&field)
            .map(|m| m.iter().map(|(v, r)| (v.clone(), r.len)).collect())
            .unwrap_or_default()
    }

    /// The article stored at `idx`.
    pub fn article(&self, idx: u32) -> Result<Article, IndexError> {
        let corrupt = |reason: String| IndexError::Corrupt {
            path: self.dir.join(ARTICLES),
            reason,
        };
        let offsets: &[u64] =
            bytemuck::cast_slice(&self.articles[self.article_offsets.0..self.article_offsets.1]);
        let (Some(&s), Some(&e)) = (offsets.get(idx as usize), offsets.get(idx as usize + 1)) else {
            return Err(corrupt(format!("article {idx} does not exist")));
        };
        let payload = &self.articles[self.payload_start..];
        let bytes = payload
            .get(s as usize..e as usize)
            .ok_or_else(|| corrupt(format!("article {idx} lies outside the payload")))?;
        serde_json::from_slice(bytes).map_err(|err| corrupt(format!("article {idx}: {err}")))
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
    /// remembered within [`DEFAULT_BUDGET`] bytes, least recently used first out).
    ///
    /// Never holds an id past the last point, whatever postings.bin says:
    /// search scores every admitted id against `vectors.bin`.
    pub fn filter_points(&self, filter: &Filter) -> Arc<RoaringBitmap> {
        if let Some(b) = self
            .filter_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(filter)
        {
            return b;
        }
        let mut acc: Option<RoaringBitmap> = None;
        for (field, values) in filter.clauses() {
            let mut union = RoaringBitmap::new();
            for v in values {
                let list = self.posting(field, v);
                union |= RoaringBitmap::from_sorted_iter(list.iter().copied())
                    .unwrap_or_else(|_| list.iter().copied().collect());
            }
            acc = Some(match acc {
                None => union,
                Some(a) => a & union,
            });
        }
        let mut bitmap = acc.unwrap_or_else(|| {
            let mut all = RoaringBitmap::new();
            all.insert_range(0..self.points() as u32);
            all
        });
        bitmap.remove_range(self.points() as u32..);
        let bitmap = Arc::new(bitmap);
        self.filter_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(filter.clone(), bitmap.clone());
        bitmap
    }

    /// Bytes of filter bitmaps the cache holds now.
    #[doc(hidden)]
    pub fn filter_cache_bytes(&self) -> usize {
        self.filter_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .bytes()
    }

    /// Checks a query vector (dimension, finite, non-zero) and returns it at
    /// unit length: scores are dot products with unit vectors.
    pub fn prepare_query<'q>(&self, query: &'q [f32]) -> Result<std::borrow::Cow<'q, [f32]>, IndexError> {
        if query.len() != self.dim() {
            return Err(IndexError::InvalidQuery(format!(
                "vector has dimension {}, the index has {}",
                query.len(),
                self.dim()
            )));
        }
        if let Some(i) = query.iter().position(|x| !x.is_finite()) {
            return Err(IndexError::InvalidQuery(format!(
                "vector component {i} is not a finite number"
            )));
        }
        // In f64 a square of any finite f32 (≤ 1.2e77) and their sum over any
        // plausible dimension stay finite, where f32 overflows at |x| ≈ 1.8e19
        // and would turn the query into zeros.
        let norm = query
            .iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt();
        if norm == 0.0 {
            return Err(IndexError::InvalidQuery("vector is all zeros".into()));
        }
        if !norm.is_finite() {
            return Err(IndexError::InvalidQuery(format!(
                "vector length {norm} cannot be normalised"
            )));
        }
        if (norm - 1.0).abs() < 1e-4 {
            Ok(query.into())
        } else {
            Ok(query
                .iter()
                .map(|&x| (f64::from(x) / norm) as f32)
                .collect::<Vec<_>>()
                .into())
        }
    }

    /// The `k` best articles for a query vector, one hit per article.
    ///
    /// `ef` is the beam width (≥ k is used); with a filter, the planner picks
    /// an exact scan or a filtered graph walk, and falls back to the exact scan
    /// whenever the walk finds fewer than k articles, so a filter never returns
    /// fewer hits than exist.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<Hit>, IndexError> {
        if k == 0 {
            return Err(IndexError::InvalidQuery("k must be at least 1".into()));
        }
        let q = self.prepare_query(query)?;
        let (g, v) = (self.graph(), self.vectors());
        let n = self.points();
        let filter = filter.filter(|f| !f.is_empty());
        let Some(filter) = filter else {
            return Ok(self.walk(&g, &v, &q, k, ef, &|_| true));
        };
        let admitted = self.filter_points(filter);
        if admitted.is_empty() {
            return Ok(Vec::new());
        }
        match plan(admitted.len(), n as u64, ef.max(k)) {
            Plan::Exact => Ok(self.exact(&v, &q, admitted.iter(), k)),
            Plan::Graph { ef } => {
                let hits = self.walk(&g, &v, &q, k, ef, &|p| admitted.contains(p));
                if hits.len() >= k {
                    Ok(hits)
                } else {
                    Ok(self.exact(&v, &q, admitted.iter(), k))
                }
            }
        }
    }

    /// The `k` best articles among the points `accept` admits (an exact scan on small
    /// indexes, a graph walk on large ones). Calibration uses it to hold samples out.
    pub fn search_where(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Result<Vec<Hit>, IndexError> {
        if k == 0 {
            return Err(IndexError::InvalidQuery("k must be at least 1".into()));
        }
        let q = self.prepare_query(query)?;
        let v = self.vectors();
        if self.points() <= EXACT_WHERE_MAX {
            let admitted = (0..self.points() as u32).filter(|&p| accept(p));
            return Ok(self.exact(&v, &q, admitted, k));
        }
        Ok(self.walk(&self.graph(), &v, &q, k, ef, accept))
    }

    /// Graph search, widening the beam until k distinct articles are found or the graph is exhausted.
    fn walk(
        &self,
        g: &GraphRef,
        v: &Vectors,
        q: &[f32],
        k: usize,
        ef: usize,
        accept: &dyn Fn(u32) -> bool,
    ) -> Vec<Hit> {
        let n = self.points();
        let mut ef = ef.max(k);
        loop {
            let cands = hnsw_search(g, v, q, ef, accept);
            let hits = self.dedup(&cands, k);
            if hits.len() >= k || cands.len() < ef || ef >= n {
                return hits;
            }
            ef = (ef * 2).min(n);
        }
    }

    /// Exact scan of the given points, one hit per article.
    fn exact(&self, v: &Vectors, q: &[f32], points: impl Iterator<Item = u32>, k: usize) -> Vec<Hit> {
        let pa = self.point_article();
        let mut best: HashMap<u32, (f32, u32)> = HashMap::new();
        for (s, p) in exact_scan(v, q, points, usize::MAX) {
            let a = pa.get(p as usize).copied().unwrap_or(p);
            best.entry(a).or_insert((s, p));
        }
        let mut hits: Vec<Hit> = best
            .into_iter()
            .map(|(article, (score, point))| Hit {
                article,
                point,
                score,
            })
            .collect();
        hits.sort_unstable_by(|a, b| b.score.total_cmp(&a.score).then(a.article.cmp(&b.article)));
        hits.truncate(k);
        hits
    }

    /// Keeps the best point of each article from a best-first candidate list.
    fn dedup(&self, cands: &[(f32, u32)], k: usize) -> Vec<Hit> {
        let pa = self.point_article();
        let mut hits: Vec<Hit> = Vec::with_capacity(k);
        for &(score, point) in cands {
            let article = pa.get(point as usize).copied().unwrap_or(point);
            if hits.iter().any(|h| h.article == article) {
                continue;
            }
            hits.push(Hit {
                article,
                point,
                score,
            });
            if hits.len() == k {
                break;
            }
        }
        hits
    }

    /// Exact top-k points (no de-duplication): the ground truth for recall.
    pub fn exact_points(&self, query: &[f32], k: usize) -> Result<Vec<(f32, u32)>, IndexError> {
        let q = self.prepare_query(query)?;
        Ok(exact_scan(&self.vectors(), &q, 0..self.points() as u32, k))
    }

    /// Approximate top-k points (no de-duplication), as the graph alone finds them.
    pub fn graph_points(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<(f32, u32)>, IndexError> {
        let q = self.prepare_query(query)?;
        let mut r = hnsw_search(&self.graph(), &self.vectors(), &q, ef.max(k), &|_| true);
        r.truncate(k);
        Ok(r)
    }

    /// Recomputes every file's checksum and walks the graph: what `kefu verify` runs.
    pub fn verify(&self) -> Result<VerifyReport, IndexError> {
        for name in DATA_FILES {
            let path = self.dir.join(name);
            let want = &self.manifest.files[name].sha256;
            let mut f = std::fs::File::open(&path).map_err(|e| IndexError::Io {
                path: path.clone(),
                source: e,
            })?;
            let mut h = Sha256::new();
            std::io::copy(&mut f, &mut h).map_err(|e| IndexError::Io {
                path: path.clone(),
                source: e,
            })?;
            let got = format!("{:x}", h.finalize());
            if &got != want {
                return Err(IndexError::Checksum {
                    path,
                    expected: want.clone(),
                    found: got,
                });
            }
        }
        let g = self.graph();
        g.check_ids().map_err(|reason| IndexError::Corrupt {
            path: self.dir.join(GRAPH),
            reason,
        })?;
        let pa = self.point_article();
        if let Some(p) = pa.iter().position(|&a| a as usize >= self.article_count()) {
            return Err(IndexError::Corrupt {
                path: self.dir.join(POINTS),
                reason: format!("point {p} names article {}, past the last one", pa[p]),
            });
        }
        self.check_postings()?;
        self.check_vectors()?;
        self.check_articles()?;
        let unreachable = g.reachable().iter().filter(|&&r| !r).count() as u64;
        if unreachable > 0 {
            return Err(IndexError::Corrupt {
                path: self.dir.join(GRAPH),
                reason: format!("{unreachable} nodes are unreachable from the entry point"),
            });
        }
        let stale_staging = match self.dir.parent() {
            Some(root) => super::build::stale_staging_dirs(root),
            None => Vec::new(),
        };
        Ok(VerifyReport {
            files_checked: DATA_FILES.len(),
            points: self.manifest.points,
            unreachable,
            stale_staging,
        })
    }

    /// Every posting list is strictly increasing and names only points that exist.
    fn check_postings(&self) -> Result<(), IndexError> {
        let n = self.points() as u64;
        for (field, values) in &self.manifest.postings {
            for value in values.keys() {
                let list = self.posting(*field, value);
                let bad = |reason: String| IndexError::Corrupt {
                    path: self.dir.join(POSTINGS),
                    reason: format!("postings.{}.{value:?}: {reason}", field.name()),
                };
                if let Some(&p) = list.iter().find(|&&p| u64::from(p) >= n) {
                    return Err(bad(format!("point {p} is past the last point ({n} points)")));
                }
                if let Some(w) = list.windows(2).find(|w| w[0] >= w[1]) {
                    return Err(bad(format!("ids are not increasing ({} then {})", w[0], w[1])));
                }
            }
        }
        Ok(())
    }

    /// Every vector is finite and unit length (scores are dot products).
    fn check_vectors(&self) -> Result<(), IndexError> {
        let v = self.vectors();
        for p in 0..self.points() as u32 {
            let row = v.row(p);
            let bad = |reason: String| IndexError::Corrupt {
                path: self.dir.join(VECTORS),
                reason: format!("point {p}: {reason}"),
            };
            if let Some(i) = row.iter().position(|x| !x.is_finite()) {
                return Err(bad(format!("component {i} is {}", row[i])));
            }
            let norm = row
                .iter()
                .map(|&x| f64::from(x) * f64::from(x))
                .sum::<f64>()
                .sqrt();
            if (norm - 1.0).abs() >= UNIT_TOLERANCE {
                return Err(bad(format!("length is {norm:.6}, not 1")));
            }
        }
        Ok(())
    }

    /// Every article's payload parses.
    fn check_articles(&self) -> Result<(), IndexError> {
        for a in 0..self.article_count() as u32 {
            self.article(a)?;
        }
        Ok(())
    }
}

/// A version directory has a manifest; an index root has `current` naming one.
pub fn resolve_version_dir(path: &Path) -> Result<PathBuf, IndexError> {
    if path.join(MANIFEST).is_file() {
        return Ok(path.to_path_buf());
    }
    let cur = path.join(CURRENT);
    match std::fs::read_to_string(&cur) {
        Ok(name) => {
            let name = name.trim();
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                return Err(IndexError::Corrupt {
                    path: cur,
                    reason: format!("{name:?} is not a version name"),
                });
            }
            let dir = path.join(name);
            if dir.join(MANIFEST).is_file() {
                Ok(dir)
            } else {
                Err(IndexError::NotAnIndex { path: dir })
            }
        }
        Err(_) if path.exists() => Err(IndexError::NotAnIndex {
            path: path.to_path_buf(),
        }),
        Err(e) => Err(IndexError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

fn header(map: &Mmap) -> FileHeader {
    bytemuck::pod_read_unaligned(&map[..64])
}

/// Maps a data file after checking its size against the manifest and its magic and version.
fn map_file(dir: &Path, name: &str, manifest: &Manifest, magic: [u8; 8]) -> Result<Mmap, IndexError> {
    let path = dir.join(name);
    let corrupt = |reason: String| IndexError::Corrupt {
        path: path.clone(),
        reason,
    };
    let entry = manifest
        .files
        .get(name)
        .ok_or_else(|| corrupt("not listed in manifest.json".into()))?;
    let file = std::fs::File::open(&path).map_err(|e| IndexError::Io {
        path: path.clone(),
        source: e,
    })?;
    let len = file
        .metadata()
        .map_err(|e| IndexError::Io {
            path: path.clone(),
            source: e,
        })?
        .len();
    if len != entry.bytes {
        return Err(corrupt(format!(
            "size is {len} bytes, manifest says {} (truncated?)",
            entry.bytes
        )));
    }
    if len < 64 {
        return Err(corrupt("shorter than its 64-byte header".into()));
    }
    // SAFETY: a version directory is immutable once renamed into place (kefu
    // swaps versions, never rewrites one); the mapping is read-only.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| IndexError::Io {
        path: path.clone(),
        source: e,
    })?;
    let h = header(&map);
    if h.magic != magic {
        return Err(corrupt(format!(
            "bad magic {:?}, expected {:?}",
            String::from_utf8_lossy(&h.magic),
            String::from_utf8_lossy(&magic)
        )));
    }
    if h.format_version != FORMAT_VERSION {
        return Err(IndexError::Unsupported {
            path,
            found: h.format_version,
            expected: FORMAT_VERSION,
        });
    }
    Ok(map)
}

fn map_checked(
    dir: &Path,
    name: &str,
    manifest: &Manifest,
    magic: [u8; 8],
    len: usize,
) -> Result<Mmap, IndexError> {
    let map = map_file(dir, name, manifest, magic)?;
    expect_len(dir, name, &map, len)?;
    Ok(map)
}

fn expect_len(dir: &Path, name: &str, map: &Mmap, want: usize) -> Result<(), IndexError> {
    if map.len() != want {
        return Err(IndexError::Corrupt {
            path: dir.join(name),
            reason: format!("size is {} bytes, its header implies {want}", map.len()),
        });
    }
    Ok(())
}

fn check_counts(dir: &Path, name: &str, map: &Mmap, want: &[u64]) -> Result<(), IndexError> {
    let h = header(map);
    if &h.counts[..want.len()] != want {
        return Err(IndexError::Corrupt {
            path: dir.join(name),
            reason: format!(
                "header counts {:?} disagree with manifest {want:?}",
                &h.counts[..want.len()]
            ),
        });
    }
    Ok(())
}

//! Posting lists, `postings.bin`: the sorted points of every (field, value),
//! concatenated, with their directory in the manifest; and the bitmaps of the
//! points a filter admits, cached per opened index ([`super::filter_cache`]).

use super::IndexError;
use super::corpus::Corpus;
use super::file::{Sections, expect_len, header, map_file, too_big, write_file};
use super::filter::Filter;
use super::filter_cache::{DEFAULT_BUDGET, FilterCache};
use super::format::{Field, FileEntry, FileHeader, MAGIC_POSTINGS, Manifest, POSTINGS, PostingRef};
use memmap2::Mmap;
use roaring::RoaringBitmap;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where each (field, value)'s list lies, as the manifest records it.
pub(crate) type PostingDir = BTreeMap<Field, BTreeMap<String, PostingRef>>;

/// postings.bin: one section of `ids` u32.
fn layout(ids: usize) -> Option<Sections<1>> {
    Sections::new([ids.checked_mul(4)?])
}

/// Sorted point ids for every (field, value), concatenated, with their directory.
pub(crate) fn build(corpus: &Corpus) -> (PostingDir, Vec<u32>) {
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

/// Writes `postings.bin`.
pub(crate) fn write(dir: &Path, ids: &[u32]) -> Result<FileEntry, IndexError> {
    let at = layout(ids.len()).ok_or_else(|| too_big(dir, POSTINGS))?;
    write_file(
        &dir.join(POSTINGS),
        FileHeader::new(MAGIC_POSTINGS, &[ids.len() as u64]),
        &at,
        [bytemuck::cast_slice(ids)],
    )
}

/// `postings.bin` mapped, its directory, and the filter bitmaps computed from it.
pub(crate) struct Postings {
    path: PathBuf,
    map: Mmap,
    at: Sections<1>,
    dir: PostingDir,
    points: u32,
    cache: Mutex<FilterCache>,
}

impl Postings {
    /// Maps the file and checks every directory range lies inside it (O(values), no id read).
    pub(crate) fn open(dir: &Path, manifest: &Manifest) -> Result<Self, IndexError> {
        let map = map_file(dir, POSTINGS, manifest, MAGIC_POSTINGS)?;
        let ids = header(&map).counts[0];
        let at = usize::try_from(ids)
            .ok()
            .and_then(layout)
            .ok_or_else(|| too_big(dir, POSTINGS))?;
        expect_len(dir, POSTINGS, &map, at.file_len())?;
        // Every range must lie inside postings.bin, so `list` can slice
        // without checks. The ids inside are not read here (that is
        // O(postings), and open is O(1)): `check` verifies each is a point,
        // and `filter_points` drops any that is not.
        for (field, values) in &manifest.postings {
            for (value, r) in values {
                if r.offset.checked_add(r.len).is_none_or(|end| end > ids) {
                    return Err(IndexError::Corrupt {
                        path: dir.join(super::format::MANIFEST),
                        reason: format!(
                            "postings.{}.{value:?} (offset {}, len {}) lies past the end of postings.bin ({ids} ids)",
                            field.name(),
                            r.offset,
                            r.len
                        ),
                    });
                }
            }
        }
        Ok(Self {
            path: dir.join(POSTINGS),
            map,
            at,
            dir: manifest.postings.clone(),
            points: u32::try_from(manifest.points).unwrap_or(u32::MAX),
            cache: Mutex::new(FilterCache::new(DEFAULT_BUDGET)),
        })
    }

    /// Sorted points of one (field, value), in place; empty if the value is unknown.
    pub(crate) fn list(&self, field: Field, value: &str) -> &[u32] {
        let Some(r) = self.dir.get(&field).and_then(|m| m.get(value)) else {
            return &[];
        };
        let ids: &[u32] = bytemuck::cast_slice(&self.map[self.at.range(0)]);
        // `open` checked the range; stay panic-free regardless.
        let range = usize::try_from(r.offset)
            .ok()
            .zip(usize::try_from(r.len).ok())
            .and_then(|(s, l)| Some(s..s.checked_add(l)?));
        range.and_then(|r| ids.get(r)).unwrap_or(&[])
    }

    /// Distinct values of a field with their point counts.
    pub(crate) fn values(&self, field: Field) -> Vec<(String, u64)> {
        self.dir
            .get(&field)
            .map(|m| m.iter().map(|(v, r)| (v.clone(), r.len)).collect())
            .unwrap_or_default()
    }

    /// The points a filter admits, computed once per distinct filter and kept
    /// within [`DEFAULT_BUDGET`] bytes; never an id past the last point.
    pub(crate) fn filter_points(&self, filter: &Filter) -> Arc<RoaringBitmap> {
        let cache = || self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(b) = cache().get(filter) {
            return b;
        }
        let mut acc: Option<RoaringBitmap> = None;
        for (field, values) in filter.clauses() {
            let mut union = RoaringBitmap::new();
            for v in values {
                let list = self.list(field, v);
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
            all.insert_range(0..self.points);
            all
        });
        bitmap.remove_range(self.points..);
        let bitmap = Arc::new(bitmap);
        cache().insert(filter.clone(), bitmap.clone());
        bitmap
    }

    /// Bytes of filter bitmaps and their keys the cache holds now.
    pub(crate) fn cache_bytes(&self) -> usize {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).bytes()
    }

    /// Every list is strictly increasing and names only points that exist (what verify runs).
    pub(crate) fn check(&self) -> Result<(), IndexError> {
        let n = u64::from(self.points);
        for (field, values) in &self.dir {
            for value in values.keys() {
                let list = self.list(*field, value);
                let bad = |reason: String| IndexError::Corrupt {
                    path: self.path.clone(),
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
}

//! The payload store, `articles.bin`: the JSON of every article, found by
//! article index through an offset table ((a + 1) u64, then the JSON bytes).

use super::IndexError;
use super::file::{Sections, check_counts, expect_len, header, map_file, too_big, write_file};
use super::format::{ARTICLES, FileEntry, FileHeader, MAGIC_ARTICLES, Manifest};
use crate::kb::Article;
use memmap2::Mmap;
use std::path::{Path, PathBuf};

/// Offsets ((articles + 1) u64), then the concatenated JSON.
fn layout(articles: usize, payload_bytes: usize) -> Option<Sections<2>> {
    Sections::new([articles.checked_add(1)?.checked_mul(8)?, payload_bytes])
}

/// Writes `articles.bin`.
pub(crate) fn write(dir: &Path, articles: &[Article]) -> Result<FileEntry, IndexError> {
    let mut offsets = Vec::with_capacity(articles.len() + 1);
    let mut payload = Vec::new();
    for a in articles {
        offsets.push(payload.len() as u64);
        serde_json::to_writer(&mut payload, a).map_err(|e| IndexError::Build(e.to_string()))?;
    }
    offsets.push(payload.len() as u64);
    let at = layout(articles.len(), payload.len()).ok_or_else(|| too_big(dir, ARTICLES))?;
    write_file(
        &dir.join(ARTICLES),
        FileHeader::new(MAGIC_ARTICLES, &[articles.len() as u64, payload.len() as u64]),
        &at,
        [bytemuck::cast_slice(&offsets), &payload],
    )
}

/// `articles.bin` mapped: articles are parsed on demand, one at a time.
pub(crate) struct PayloadStore {
    path: PathBuf,
    map: Mmap,
    at: Sections<2>,
}

impl PayloadStore {
    /// Maps the file and checks its size and header against the manifest (O(1)).
    pub(crate) fn open(dir: &Path, manifest: &Manifest) -> Result<Self, IndexError> {
        let map = map_file(dir, ARTICLES, manifest, MAGIC_ARTICLES)?;
        let a = manifest.articles as usize;
        let payload = usize::try_from(header(&map).counts[1]).map_err(|_| too_big(dir, ARTICLES))?;
        let at = layout(a, payload).ok_or_else(|| too_big(dir, ARTICLES))?;
        expect_len(dir, ARTICLES, &map, at.file_len())?;
        check_counts(dir, ARTICLES, &map, &[a as u64])?;
        Ok(Self {
            path: dir.join(ARTICLES),
            map,
            at,
        })
    }

    /// The article stored at `idx`; a damaged offset or payload is `Corrupt`, never a panic.
    pub(crate) fn article(&self, idx: u32) -> Result<Article, IndexError> {
        let corrupt = |reason: String| IndexError::Corrupt {
            path: self.path.clone(),
            reason,
        };
        let offsets: &[u64] = bytemuck::cast_slice(&self.map[self.at.range(0)]);
        let (Some(&s), Some(&e)) = (offsets.get(idx as usize), offsets.get(idx as usize + 1)) else {
            return Err(corrupt(format!("article {idx} does not exist")));
        };
        let payload = &self.map[self.at.range(1)];
        let bytes = usize::try_from(s)
            .ok()
            .zip(usize::try_from(e).ok())
            .and_then(|(s, e)| payload.get(s..e))
            .ok_or_else(|| corrupt(format!("article {idx} lies outside the payload")))?;
        serde_json::from_slice(bytes).map_err(|err| corrupt(format!("article {idx}: {err}")))
    }
}

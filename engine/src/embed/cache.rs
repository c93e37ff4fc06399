//! Vectors already computed, kept on disk by text, so rebuilding an index after editing a
//! few articles (or running a test suite that embeds the same KB in every binary) embeds
//! only the texts it has not seen with this encoder.
//!
//! One file per encoder under the cache folder, named by the encoder's [`ModelId`]:
//! `<weights sha256>-<variant>-<dim>.vecs`. Layout, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic [`MAGIC`] |
//! | 4 | dimension (u32) |
//! | 8 | rows (u64) |
//! | 16 × rows | keys: the first 16 bytes of sha256(role byte, text) |
//! | 4 × dim × rows | vectors (f32) |
//! | 4 | CRC-32 of everything before it |
//!
//! A cache is disposable: a missing, damaged or foreign file is logged and treated as
//! empty — it never stops a build. Saving writes a temporary file and renames it over the
//! old one, so a reader sees the whole old file or the whole new one; of two builds
//! saving at once the last one's file stays (the other's new vectors are embedded again
//! next time).
//!
//! The key is the weights' checksum and precision: a model folder whose tokenizer or
//! prompts change without its weights needs its cache file removed.

use super::{ModelId, TextRole};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// First bytes of a cache file: the format and its version.
pub const MAGIC: &[u8; 8] = b"KEFUVEC1";
/// Size a cache file may reach, read or written: past it a save keeps only the vectors
/// this run used, and is skipped (with a warning) when even those do not fit.
pub const MAX_CACHE_BYTES: u64 = 512 << 20;

const HEADER: usize = 8 + 4 + 8;
const KEY: usize = 16;

type Key = [u8; KEY];

/// Why a cache folder could not be used or a cache file not written.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("embedding cache {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Vectors by text for one encoder, loaded from and saved to one file.
pub struct EmbedCache {
    path: PathBuf,
    dim: usize,
    rows: HashMap<Key, usize>,
    keys: Vec<Key>,
    vectors: Vec<f32>,
    used: Vec<bool>,
    added: usize,
    hits: usize,
}

/// What a cache did for one run: shown by `kefu build`, checked by tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Texts whose vector came from the cache.
    pub hits: usize,
    /// Texts embedded and stored (a text that occurs twice in one run counts twice).
    pub added: usize,
    /// Vectors held now.
    pub rows: usize,
}

fn key(role: TextRole, text: &str) -> Key {
    let mut h = Sha256::new();
    h.update([match role {
        TextRole::Query => b'q',
        TextRole::Passage => b'p',
    }]);
    h.update(text.as_bytes());
    let mut k = [0u8; KEY];
    k.copy_from_slice(&h.finalize()[..KEY]);
    k
}

impl EmbedCache {
    /// The cache of `model`'s vectors under `dir` (created if missing); empty when the
    /// file is absent or unusable.
    pub fn open(dir: &Path, model: &ModelId) -> Result<Self, CacheError> {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let dim = model.space.dim;
        let name = format!(
            "{}-{}-{dim}.vecs",
            model
                .space
                .sha256
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .take(64)
                .collect::<String>(),
            model.variant
        );
        let mut cache = Self {
            path: dir.join(name),
            dim,
            rows: HashMap::new(),
            keys: Vec::new(),
            vectors: Vec::new(),
            used: Vec::new(),
            added: 0,
            hits: 0,
        };
        match cache.load() {
            Ok(()) => {}
            Err(reason) => {
                tracing::warn!(path = %cache.path.display(), "embedding cache ignored: {reason}");
                cache.rows.clear();
                cache.keys.clear();
                cache.vectors.clear();
            }
        }
        cache.used = vec![false; cache.keys.len()];
        Ok(cache)
    }

    /// Reads the file; a reason when it is absent-but-unreadable, damaged or foreign.
    fn load(&mut self) -> Result<(), String> {
        let bytes = match std::fs::metadata(&self.path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e.to_string()),
            Ok(m) if m.len() > MAX_CACHE_BYTES => {
                return Err(format!("{} bytes is larger than any cache kefu writes", m.len()));
            }
            Ok(_) => std::fs::read(&self.path).map_err(|e| e.to_string())?,
        };
        if bytes.len() < HEADER + 4 || &bytes[..8] != MAGIC {
            return Err("not a kefu embedding cache".into());
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body).to_le_bytes() != crc {
            return Err("checksum mismatch (a torn or damaged file)".into());
        }
        let dim = u32::from_le_bytes(body[8..12].try_into().expect("4 bytes")) as usize;
        let rows = u64::from_le_bytes(body[12..20].try_into().expect("8 bytes"));
        if dim != self.dim {
            return Err(format!("dimension {dim}, the model's is {}", self.dim));
        }
        let want = (rows as u128) * (KEY as u128 + 4 * dim as u128) + HEADER as u128;
        if want != body.len() as u128 {
            return Err(format!("{rows} rows do not fit {} bytes", body.len()));
        }
        let rows = rows as usize;
        let (keys, vectors) = body[HEADER..].split_at(rows * KEY);
        self.keys = keys
            .chunks_exact(KEY)
            .map(|k| k.try_into().expect("16 bytes"))
            .collect();
        self.vectors = vectors
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect();
        self.rows = self.keys.iter().enumerate().map(|(i, k)| (*k, i)).collect();
        Ok(())
    }

    /// The vector of `text` in `role`, if this encoder has embedded it before.
    pub fn get(&mut self, role: TextRole, text: &str) -> Option<&[f32]> {
        let row = *self.rows.get(&key(role, text))?;
        self.used[row] = true;
        self.hits += 1;
        Some(&self.vectors[row * self.dim..(row + 1) * self.dim])
    }

    /// Remembers `vector` for `text` in `role`; a vector of the wrong width is not kept.
    pub fn insert(&mut self, role: TextRole, text: &str, vector: &[f32]) {
        if vector.len() != self.dim {
            return;
        }
        self.added += 1;
        let k = key(role, text);
        if let Some(&row) = self.rows.get(&k) {
            self.vectors[row * self.dim..(row + 1) * self.dim].copy_from_slice(vector);
            self.used[row] = true;
            return;
        }
        self.rows.insert(k, self.keys.len());
        self.keys.push(k);
        self.vectors.extend_from_slice(vector);
        self.used.push(true);
    }

    /// Hits, additions and size so far.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits,
            added: self.added,
            rows: self.keys.len(),
        }
    }

    /// The file this cache reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the cache when it gained vectors: every row, or only the rows this run
    /// used when all of them would pass [`MAX_CACHE_BYTES`]; nothing when even those
    /// would (a file no later run could read is not worth writing).
    pub fn save(&self) -> Result<(), CacheError> {
        if self.added == 0 {
            return Ok(());
        }
        let row_bytes = (KEY + 4 * self.dim) as u64;
        let size = |rows: usize| HEADER as u64 + 4 + row_bytes * rows as u64;
        let keep: Vec<usize> = (0..self.keys.len())
            .filter(|&i| size(self.keys.len()) <= MAX_CACHE_BYTES || self.used[i])
            .collect();
        if size(keep.len()) > MAX_CACHE_BYTES {
            tracing::warn!(
                path = %self.path.display(),
                rows = keep.len(),
                "embedding cache not saved: this build's vectors alone pass {MAX_CACHE_BYTES} bytes"
            );
            return Ok(());
        }
        let mut buf = Vec::with_capacity(HEADER + 4 + keep.len() * row_bytes as usize);
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&(self.dim as u32).to_le_bytes());
        buf.extend_from_slice(&(keep.len() as u64).to_le_bytes());
        for &i in &keep {
            buf.extend_from_slice(&self.keys[i]);
        }
        for &i in &keep {
            for x in &self.vectors[i * self.dim..(i + 1) * self.dim] {
                buf.extend_from_slice(&x.to_le_bytes());
            }
        }
        let crc = crc32fast::hash(&buf);
        buf.extend_from_slice(&crc.to_le_bytes());
        let io = |source| CacheError::Io {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        // Readable by the other users of a shared cache, as a plain file would be.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::Permissions::from_mode(0o644);
            tmp.as_file().set_permissions(mode).map_err(io)?;
        }
        tmp.write_all(&buf).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&self.path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(dim: usize) -> ModelId {
        ModelId::f32("m", "ab".repeat(32), dim)
    }

    #[test]
    fn saved_vectors_come_back_by_text_and_role() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmbedCache::open(dir.path(), &model(3)).unwrap();
        assert!(c.get(TextRole::Query, "hi").is_none());
        c.insert(TextRole::Query, "hi", &[1.0, 2.0, 3.0]);
        c.insert(TextRole::Query, "too wide", &[1.0; 4]);
        c.save().unwrap();

        let mut c = EmbedCache::open(dir.path(), &model(3)).unwrap();
        assert_eq!(c.get(TextRole::Query, "hi"), Some(&[1.0, 2.0, 3.0][..]));
        assert!(c.get(TextRole::Passage, "hi").is_none(), "roles are kept apart");
        assert!(c.get(TextRole::Query, "too wide").is_none());
        assert_eq!(
            c.stats(),
            CacheStats {
                hits: 1,
                added: 0,
                rows: 1
            }
        );

        // Another model (or width) has its own file.
        let mut other = EmbedCache::open(dir.path(), &model(2)).unwrap();
        assert!(other.get(TextRole::Query, "hi").is_none());
        assert_ne!(other.path(), c.path());
    }

    #[test]
    fn a_damaged_file_is_ignored_and_replaced_on_save() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = EmbedCache::open(dir.path(), &model(2)).unwrap();
        c.insert(TextRole::Query, "a", &[0.5, 0.5]);
        c.save().unwrap();
        let path = c.path().to_path_buf();
        let mut bytes = std::fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();

        let mut c = EmbedCache::open(dir.path(), &model(2)).unwrap();
        assert!(
            c.get(TextRole::Query, "a").is_none(),
            "a torn file reads as empty"
        );
        c.insert(TextRole::Query, "b", &[1.0, 0.0]);
        c.save().unwrap();
        let mut c = EmbedCache::open(dir.path(), &model(2)).unwrap();
        assert_eq!(c.get(TextRole::Query, "b"), Some(&[1.0, 0.0][..]));

        std::fs::write(&path, b"not a cache").unwrap();
        assert_eq!(EmbedCache::open(dir.path(), &model(2)).unwrap().stats().rows, 0);
    }

    #[test]
    fn a_cache_folder_that_cannot_be_made_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let err = EmbedCache::open(&file.join("sub"), &model(2)).err().unwrap();
        assert!(err.to_string().contains("f/sub"), "{err}");
    }
}

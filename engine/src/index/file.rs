//! One data file of a version: a 64-byte header, then sections that each start
//! at a multiple of [`ALIGN`]. [`Sections`] is the one place that rule lives;
//! the writer pads by it and the reader slices by it.

use super::IndexError;
use super::format::{ALIGN, FORMAT_VERSION, FileEntry, FileHeader, Manifest};
use memmap2::Mmap;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::ops::Range;
use std::path::Path;

/// Byte ranges of a file's sections after its header, so writer and reader agree by construction.
#[derive(Debug, Clone)]
pub(crate) struct Sections<const N: usize> {
    ranges: [Range<usize>; N],
}

impl<const N: usize> Sections<N> {
    /// Lays out sections of these byte lengths; `None` when the sizes overflow.
    pub(crate) fn new(lens: [usize; N]) -> Option<Self> {
        let mut ranges: [Range<usize>; N] = std::array::from_fn(|_| 0..0);
        let mut at = ALIGN;
        for (i, len) in lens.into_iter().enumerate() {
            if i > 0 {
                at = at.checked_next_multiple_of(ALIGN)?;
            }
            let end = at.checked_add(len)?;
            ranges[i] = at..end;
            at = end;
        }
        Some(Self { ranges })
    }

    /// Bytes of section `i`.
    pub(crate) fn range(&self, i: usize) -> Range<usize> {
        self.ranges[i].clone()
    }

    /// The whole file's length.
    pub(crate) fn file_len(&self) -> usize {
        self.ranges.last().map_or(ALIGN, |r| r.end)
    }
}

/// Writes header + sections laid out by `layout`, fsyncs, and returns the size and checksum.
pub(crate) fn write_file<const N: usize>(
    path: &Path,
    header: FileHeader,
    layout: &Sections<N>,
    parts: [&[u8]; N],
) -> Result<FileEntry, IndexError> {
    let io = |e| IndexError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut at = 0usize;
    let mut put = |bytes: &[u8], at: &mut usize| -> Result<(), IndexError> {
        w.write_all(bytes).map_err(io)?;
        hasher.update(bytes);
        *at += bytes.len();
        Ok(())
    };
    put(bytemuck::bytes_of(&header), &mut at)?;
    let zeros = [0u8; ALIGN];
    for (i, part) in parts.into_iter().enumerate() {
        let r = layout.range(i);
        if r.len() != part.len() || r.start < at || r.start - at >= ALIGN {
            return Err(IndexError::Build(format!(
                "{}: section {i} is {} bytes, its layout says {}",
                path.display(),
                part.len(),
                r.len()
            )));
        }
        put(&zeros[..r.start - at], &mut at)?;
        put(part, &mut at)?;
    }
    debug_assert_eq!(at, layout.file_len());
    let file = w.into_inner().map_err(|e| io(e.into_error()))?;
    file.sync_all().map_err(io)?;
    Ok(FileEntry {
        bytes: at as u64,
        sha256: format!("{:x}", hasher.finalize()),
    })
}

/// The header of a mapped file ([`map_file`] checked it is there).
pub(crate) fn header(map: &Mmap) -> FileHeader {
    bytemuck::pod_read_unaligned(&map[..ALIGN])
}

/// Maps a data file after checking its size against the manifest and its magic and version.
pub(crate) fn map_file(
    dir: &Path,
    name: &str,
    manifest: &Manifest,
    magic: [u8; 8],
) -> Result<Mmap, IndexError> {
    let path = dir.join(name);
    let corrupt = |reason: String| IndexError::Corrupt {
        path: path.clone(),
        reason,
    };
    let entry = manifest
        .files
        .get(name)
        .ok_or_else(|| corrupt("not listed in manifest.json".into()))?;
    let io = |e| IndexError::Io {
        path: path.clone(),
        source: e,
    };
    let file = std::fs::File::open(&path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len != entry.bytes {
        return Err(corrupt(format!(
            "size is {len} bytes, manifest says {} (truncated?)",
            entry.bytes
        )));
    }
    if len < ALIGN as u64 {
        return Err(corrupt("shorter than its 64-byte header".into()));
    }
    // SAFETY: a version directory is immutable once renamed into place (kefu
    // swaps versions, never rewrites one); the mapping is read-only.
    let map = unsafe { Mmap::map(&file) }.map_err(io)?;
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

/// The file is exactly as long as its layout says.
pub(crate) fn expect_len(dir: &Path, name: &str, map: &Mmap, want: usize) -> Result<(), IndexError> {
    if map.len() != want {
        return Err(IndexError::Corrupt {
            path: dir.join(name),
            reason: format!("size is {} bytes, its header implies {want}", map.len()),
        });
    }
    Ok(())
}

/// A layout that overflowed: the header's counts cannot describe a real file.
pub(crate) fn too_big(dir: &Path, name: &str) -> IndexError {
    IndexError::Corrupt {
        path: dir.join(name),
        reason: "its counts imply a size past the address space".into(),
    }
}

/// The header's leading counts equal what the manifest says.
pub(crate) fn check_counts(dir: &Path, name: &str, map: &Mmap, want: &[u64]) -> Result<(), IndexError> {
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

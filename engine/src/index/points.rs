//! The per-point files: `vectors.bin` (n × dim f32) and `points.bin`
//! (point → article, point → sample question), laid out once here for the
//! build and the reader.

use super::IndexError;
use super::file::{Sections, check_counts, expect_len, map_file, too_big, write_file};
use super::format::{FileEntry, FileHeader, MAGIC_POINTS, MAGIC_VECTORS, Manifest, POINTS, VECTORS};
use super::search::Vectors;
use memmap2::Mmap;
use std::path::Path;

/// vectors.bin: one section of `n × dim` f32.
fn vectors_layout(n: usize, dim: usize) -> Option<Sections<1>> {
    Sections::new([n.checked_mul(dim)?.checked_mul(4)?])
}

/// points.bin: point → article (n u32), then point → sample question (n u32).
fn points_layout(n: usize) -> Option<Sections<2>> {
    let words = n.checked_mul(4)?;
    Sections::new([words, words])
}

/// Writes `vectors.bin` (`vectors` is `n × dim`, unit length).
pub(crate) fn write_vectors(dir: &Path, vectors: &[f32], dim: usize) -> Result<FileEntry, IndexError> {
    let n = vectors.len().checked_div(dim).unwrap_or(0);
    let layout = vectors_layout(n, dim).ok_or_else(|| too_big(dir, VECTORS))?;
    write_file(
        &dir.join(VECTORS),
        FileHeader::new(MAGIC_VECTORS, &[n as u64, dim as u64]),
        &layout,
        [bytemuck::cast_slice(vectors)],
    )
}

/// Writes `points.bin`: each point's article and its position among the article's samples.
pub(crate) fn write_points(
    dir: &Path,
    point_article: &[u32],
    point_question: &[u32],
) -> Result<FileEntry, IndexError> {
    let n = point_article.len();
    let layout = points_layout(n).ok_or_else(|| too_big(dir, POINTS))?;
    write_file(
        &dir.join(POINTS),
        FileHeader::new(MAGIC_POINTS, &[n as u64]),
        &layout,
        [
            bytemuck::cast_slice(point_article),
            bytemuck::cast_slice(point_question),
        ],
    )
}

/// `vectors.bin` and `points.bin` mapped, with their sections located.
pub(crate) struct PointFiles {
    vectors: Mmap,
    vectors_at: Sections<1>,
    points: Mmap,
    points_at: Sections<2>,
    dim: usize,
}

impl PointFiles {
    /// Maps both files and checks sizes and headers against the manifest (O(1)).
    pub(crate) fn open(dir: &Path, manifest: &Manifest) -> Result<Self, IndexError> {
        let (n, dim) = (manifest.points as usize, manifest.dim);
        let vectors = map_file(dir, VECTORS, manifest, MAGIC_VECTORS)?;
        let vectors_at = vectors_layout(n, dim).ok_or_else(|| too_big(dir, VECTORS))?;
        expect_len(dir, VECTORS, &vectors, vectors_at.file_len())?;
        check_counts(dir, VECTORS, &vectors, &[n as u64, dim as u64])?;
        // Vectors are read in graph order, not sequentially: no read-ahead.
        let _ = vectors.advise(memmap2::Advice::Random);

        let points = map_file(dir, POINTS, manifest, MAGIC_POINTS)?;
        let points_at = points_layout(n).ok_or_else(|| too_big(dir, POINTS))?;
        expect_len(dir, POINTS, &points, points_at.file_len())?;
        check_counts(dir, POINTS, &points, &[n as u64])?;
        Ok(Self {
            vectors,
            vectors_at,
            points,
            points_at,
            dim,
        })
    }

    /// The stored vectors, in place.
    pub(crate) fn vectors(&self) -> Vectors<'_> {
        Vectors {
            data: bytemuck::cast_slice(&self.vectors[self.vectors_at.range(0)]),
            dim: self.dim,
        }
    }

    /// Each point's article.
    pub(crate) fn point_article(&self) -> &[u32] {
        bytemuck::cast_slice(&self.points[self.points_at.range(0)])
    }

    /// Each point's position in its article's samples.
    pub(crate) fn point_question(&self) -> &[u32] {
        bytemuck::cast_slice(&self.points[self.points_at.range(1)])
    }
}

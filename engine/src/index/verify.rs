//! `kefu verify`: everything open does not check because it is O(size) —
//! checksums, neighbour ids, posting ids, vectors, article payloads, and
//! reachability — plus the stale staging directories beside the version.

use super::IndexError;
use super::format::*;
use super::reader::Index;
use super::root::IndexRoot;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

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

impl Index {
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
        self.postings.check()?;
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
            Some(root) => IndexRoot::new(root).stale_staging_dirs(),
            None => Vec::new(),
        };
        Ok(VerifyReport {
            files_checked: DATA_FILES.len(),
            points: self.manifest.points,
            unreachable,
            stale_staging,
        })
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
            let norm = super::format::norm_f64(row);
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

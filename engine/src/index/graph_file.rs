//! `graph.bin`: the HNSW graph in kefu's flat layout, written by the build and
//! mapped by the reader through the same [`GraphLayout`].

use super::IndexError;
use super::file::{Sections, check_counts, expect_len, header, map_file, too_big, write_file};
use super::format::{FileEntry, FileHeader, GRAPH, GraphParams, MAGIC_GRAPH, Manifest};
use super::graph::{FlatGraph, GraphRef};
use memmap2::Mmap;
use std::ops::Range;
use std::path::Path;

/// Where graph.bin's sections lie: level-0 lists (n × m0 u32), node levels
/// (n u8), upper-layer offsets (n u32), upper lists (`upper_len` u32).
#[derive(Debug, Clone)]
pub(crate) struct GraphLayout(Sections<4>);

impl GraphLayout {
    /// The layout for `n` nodes; `None` when the sizes overflow.
    pub(crate) fn new(n: usize, m0: usize, upper_len: usize) -> Option<Self> {
        let words = |k: usize| k.checked_mul(4);
        Sections::new([words(n.checked_mul(m0)?)?, n, words(n)?, words(upper_len)?]).map(Self)
    }

    /// Bytes of the level-0 neighbour slots.
    pub(crate) fn level0(&self) -> Range<usize> {
        self.0.range(0)
    }

    /// Bytes of the per-node top layer.
    pub(crate) fn levels(&self) -> Range<usize> {
        self.0.range(1)
    }

    /// Bytes of where each node's upper lists start.
    pub(crate) fn upper_offsets(&self) -> Range<usize> {
        self.0.range(2)
    }

    /// Bytes of the upper-layer neighbour slots.
    pub(crate) fn upper(&self) -> Range<usize> {
        self.0.range(3)
    }

    /// The file's length.
    pub(crate) fn file_len(&self) -> usize {
        self.0.file_len()
    }
}

/// graph.bin's header counts: `[n, m0, m, max_level, entry, upper_len]`.
fn header_counts(n: usize, g: &FlatGraph) -> [u64; 6] {
    [
        n as u64,
        g.m0 as u64,
        g.m as u64,
        g.max_level as u64,
        u64::from(g.entry),
        g.upper.len() as u64,
    ]
}

/// Writes `graph.bin` into `dir` and returns its size and checksum.
pub(crate) fn write(dir: &Path, g: &FlatGraph) -> Result<FileEntry, IndexError> {
    let n = g.levels.len();
    let layout = GraphLayout::new(n, g.m0, g.upper.len())
        .ok_or_else(|| IndexError::Build(format!("a graph of {n} nodes does not fit in memory")))?;
    write_file(
        &dir.join(GRAPH),
        FileHeader::new(MAGIC_GRAPH, &header_counts(n, g)),
        &layout.0,
        [
            bytemuck::cast_slice(&g.level0),
            &g.levels,
            bytemuck::cast_slice(&g.upper_offsets),
            bytemuck::cast_slice(&g.upper),
        ],
    )
}

/// `graph.bin` mapped, with its sections located.
pub(crate) struct GraphFile {
    map: Mmap,
    layout: GraphLayout,
}

impl GraphFile {
    /// Maps the file and checks its size and header against the manifest (O(1)).
    pub(crate) fn open(dir: &Path, manifest: &Manifest) -> Result<Self, IndexError> {
        let corrupt = |reason: String| IndexError::Corrupt {
            path: dir.join(GRAPH),
            reason,
        };
        let n = manifest.points as usize;
        let g = &manifest.graph;
        let map = map_file(dir, GRAPH, manifest, MAGIC_GRAPH)?;
        let upper_len = usize::try_from(header(&map).counts[5])
            .ok()
            .filter(|&u| u <= map.len() / 4)
            .ok_or_else(|| {
                corrupt(format!(
                    "upper list length {} exceeds the file",
                    header(&map).counts[5]
                ))
            })?;
        let layout = GraphLayout::new(n, g.m0, upper_len).ok_or_else(|| too_big(dir, GRAPH))?;
        expect_len(dir, GRAPH, &map, layout.file_len())?;
        check_counts(
            dir,
            GRAPH,
            &map,
            &[
                n as u64,
                g.m0 as u64,
                g.m as u64,
                g.max_level as u64,
                u64::from(g.entry_point),
            ],
        )?;
        if n > 0 && g.entry_point as usize >= n {
            return Err(corrupt(format!(
                "entry point {} is past the last node",
                g.entry_point
            )));
        }
        // Read in search order, not sequentially: no read-ahead.
        let _ = map.advise(memmap2::Advice::Random);
        Ok(Self { map, layout })
    }

    /// The graph, in place.
    pub(crate) fn view(&self, g: &GraphParams) -> GraphRef<'_> {
        let l = &self.layout;
        GraphRef {
            level0: bytemuck::cast_slice(&self.map[l.level0()]),
            levels: &self.map[l.levels()],
            upper_offsets: bytemuck::cast_slice(&self.map[l.upper_offsets()]),
            upper: bytemuck::cast_slice(&self.map[l.upper()]),
            m0: g.m0,
            m: g.m,
            entry: g.entry_point,
            max_level: g.max_level,
        }
    }
}

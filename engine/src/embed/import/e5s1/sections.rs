//! The file's sections in order: dimensions, the SentencePiece vocabulary,
//! the normalisation table, and the tensor directory — each count checked
//! against the bytes really there before anything is allocated.

use super::cursor::{Cursor, bounded, header_err};
use super::*;
use crate::embed::import::ImportError;
use std::collections::HashMap;

pub(super) fn read_dims(cur: &mut Cursor) -> Result<Dims, ImportError> {
    let path = cur.path;
    let mut raw = [0i32; 7];
    for r in &mut raw {
        *r = cur.i32("header")?;
    }
    let eps = cur.f32("header")?;
    let block = cur.i32("header")?;
    let hidden = bounded(path, "hidden", raw[0], 16_384)?;
    let layers = bounded(path, "layers", raw[1], 256)?;
    let heads = bounded(path, "heads", raw[2], 1_024)?;
    let intermediate = bounded(path, "intermediate", raw[3], 65_536)?;
    let vocab_size = bounded(path, "vocab_size", raw[4], 4_000_000)?;
    let max_positions = bounded(path, "max_positions", raw[5], 65_536)?;
    let type_vocab_size = bounded(path, "type_vocab_size", raw[6], 1_024)?;
    if block != BLOCK as i32 {
        return Err(header_err(
            path,
            "block",
            block,
            format!("kefu reads Q4_0 blocks of {BLOCK}"),
        ));
    }
    for (field, n) in [("hidden", hidden), ("intermediate", intermediate)] {
        if !n.is_multiple_of(BLOCK) {
            return Err(header_err(
                path,
                field,
                n,
                format!("not a multiple of the block size {BLOCK}"),
            ));
        }
    }
    if !hidden.is_multiple_of(heads) {
        return Err(header_err(
            path,
            "heads",
            heads,
            format!("does not divide hidden {hidden}"),
        ));
    }
    if !(eps.is_finite() && eps > 0.0 && eps < 1.0) {
        return Err(header_err(path, "eps", eps, "expected a small positive number"));
    }
    Ok(Dims {
        hidden,
        layers,
        heads,
        intermediate,
        vocab_size,
        max_positions,
        type_vocab_size,
        layer_norm_eps: eps,
    })
}

pub(super) fn read_vocabulary(cur: &mut Cursor, dims: &Dims) -> Result<Vocabulary, ImportError> {
    let path = cur.path;
    let n = bounded(path, "n_pieces", cur.i32("vocabulary header")?, dims.vocab_size)?;
    let mut specials = [0u32; 4];
    for (slot, field) in specials.iter_mut().zip(["bos", "eos", "pad", "unk"]) {
        let v = cur.i32("vocabulary header")?;
        *slot = match usize::try_from(v) {
            Ok(id) if id < n => id as u32,
            _ => {
                return Err(header_err(
                    path,
                    field,
                    v,
                    format!("not a piece id (there are {n} pieces)"),
                ));
            }
        };
    }
    let blob_len = cur.u64("vocabulary header")?;
    let offsets_raw = cur.take((n + 1) * 4, "vocabulary offsets")?;
    let scores_raw = cur.take(n * 4, "vocabulary scores")?;
    let blob_len = usize::try_from(blob_len).unwrap_or(usize::MAX);
    let blob = cur.take(blob_len, "vocabulary pieces")?;

    let offset = |i: usize| {
        let b = &offsets_raw[i * 4..i * 4 + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
    };
    let bad = |index: usize, reason: String| ImportError::Vocabulary {
        path: path.to_path_buf(),
        index,
        reason,
    };
    if offset(0) != 0 || offset(n) != blob_len {
        return Err(bad(
            0,
            format!(
                "offsets run {}..{} but the piece bytes are 0..{blob_len}",
                offset(0),
                offset(n)
            ),
        ));
    }
    let mut pieces = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    for i in 0..n {
        let (a, b) = (offset(i), offset(i + 1));
        if a >= b || b > blob_len {
            return Err(bad(i, format!("byte range {a}..{b} is empty or out of order")));
        }
        let text = std::str::from_utf8(&blob[a..b]).map_err(|e| bad(i, format!("not UTF-8: {e}")))?;
        let s = &scores_raw[i * 4..i * 4 + 4];
        let score = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        if !score.is_finite() {
            return Err(bad(i, format!("{text:?} has score {score}")));
        }
        if !seen.insert(text) {
            return Err(bad(i, format!("{text:?} appears twice")));
        }
        pieces.push((text.to_string(), score));
    }
    Ok(Vocabulary {
        pieces,
        bos: specials[0],
        eos: specials[1],
        pad: specials[2],
        unk: specials[3],
    })
}

pub(super) fn read_norm_table(cur: &mut Cursor) -> Result<NormTable, ImportError> {
    let path = cur.path;
    let n_raw = cur.i32("normalisation header")?;
    let len = cur.u32("normalisation header")? as usize;
    let body = cur.take(len, "normalisation table")?;
    let n = usize::try_from(n_raw)
        .ok()
        .filter(|&n| n <= 0x11_0000)
        .ok_or_else(|| header_err(path, "n_norm", n_raw, "expected 0..=1114112"))?;
    let bad = |index: usize, reason: String| ImportError::Normalization {
        path: path.to_path_buf(),
        index,
        reason,
    };
    let mut table = Cursor {
        path,
        bytes: body,
        pos: 0,
    };
    let ran_out = |i: usize| bad(i, format!("runs past the table's {len} bytes"));
    let mut entries: Vec<(char, String)> = Vec::new();
    for i in 0..n {
        let cp = table.u32("").map_err(|_| ran_out(i))?;
        let count = table.u8("").map_err(|_| ran_out(i))?;
        let c = char::from_u32(cp)
            .ok_or_else(|| bad(i, format!("code point {cp:#x} is not a Unicode scalar value")))?;
        let mut out = String::new();
        for _ in 0..count {
            let r = table.u32("").map_err(|_| ran_out(i))?;
            out.push(
                char::from_u32(r)
                    .ok_or_else(|| bad(i, format!("replacement {r:#x} is not a Unicode scalar value")))?,
            );
        }
        if let Some((prev, _)) = entries.last()
            && *prev >= c
        {
            return Err(bad(
                i,
                format!(
                    "U+{:04X} follows U+{:04X}; entries must be sorted",
                    c as u32, *prev as u32
                ),
            ));
        }
        entries.push((c, out));
    }
    if table.pos != body.len() {
        return Err(bad(
            n,
            format!(
                "{} bytes are left where the table should end",
                body.len() - table.pos
            ),
        ));
    }
    Ok(NormTable { entries })
}

/// A directory entry as stored.
pub(super) struct DirEntry {
    pub(super) stored_as: StoredAs,
    pub(super) elements: u64,
    pub(super) offset: u64,
    pub(super) nbytes: u64,
}

pub(super) fn read_directory(cur: &mut Cursor) -> Result<HashMap<String, DirEntry>, ImportError> {
    let path = cur.path;
    let n_raw = cur.i32("tensor directory")?;
    let n = usize::try_from(n_raw)
        .ok()
        .filter(|&n| n <= 1_000_000)
        .ok_or_else(|| header_err(path, "n_tensors", n_raw, "expected 0..=1000000"))?;
    let bad = |index: usize, reason: String| ImportError::Directory {
        path: path.to_path_buf(),
        index,
        reason,
    };
    // Entries are read one by one: a lying count runs out of bytes, it does not allocate.
    let mut dir = HashMap::new();
    for i in 0..n {
        let name_len = cur.u16("tensor directory")? as usize;
        let name = cur.take(name_len, "tensor directory")?;
        let name = std::str::from_utf8(name).map_err(|e| bad(i, format!("name is not UTF-8: {e}")))?;
        let code = cur.u8("tensor directory")?;
        let stored_as =
            StoredAs::from_code(code).ok_or_else(|| bad(i, format!("`{name}` has unknown dtype {code}")))?;
        let entry = DirEntry {
            stored_as,
            elements: u64::from(cur.u32("tensor directory")?),
            offset: cur.u64("tensor directory")?,
            nbytes: cur.u64("tensor directory")?,
        };
        if dir.insert(name.to_string(), entry).is_some() {
            return Err(bad(i, format!("`{name}` appears twice")));
        }
    }
    Ok(dir)
}

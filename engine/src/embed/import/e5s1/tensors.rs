//! The tensors BERT needs under their E5S1 and Hugging Face names, and
//! placing the directory's entries into them with shape and size checks.

use super::sections::DirEntry;
use super::*;
use crate::embed::import::ImportError;
use std::collections::HashMap;

/// A tensor BERT needs: what the E5S1 directory calls it and what Hugging Face does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTensor {
    /// e.g. `l0.q.w`
    pub packed_name: String,
    /// e.g. `encoder.layer.0.attention.self.query.weight`
    pub name: String,
    pub stored_as: StoredAs,
    pub shape: Vec<usize>,
}

/// Every tensor BERT needs for these dimensions, in checkpoint order.
pub fn expected_tensors(d: &Dims) -> Vec<ExpectedTensor> {
    use StoredAs::{F32, Q4_0};
    let (h, ff) = (d.hidden, d.intermediate);
    let tensor = |packed_name: String, name: String, stored_as, shape| ExpectedTensor {
        packed_name,
        name,
        stored_as,
        shape,
    };
    let embeddings = [
        (
            "emb.word",
            "embeddings.word_embeddings.weight",
            Q4_0,
            vec![d.vocab_size, h],
        ),
        (
            "emb.pos",
            "embeddings.position_embeddings.weight",
            F32,
            vec![d.max_positions, h],
        ),
        (
            "emb.type",
            "embeddings.token_type_embeddings.weight",
            F32,
            vec![d.type_vocab_size, h],
        ),
        ("emb.ln.w", "embeddings.LayerNorm.weight", F32, vec![h]),
        ("emb.ln.b", "embeddings.LayerNorm.bias", F32, vec![h]),
    ];
    let mut v: Vec<ExpectedTensor> = embeddings
        .into_iter()
        .map(|(p, n, s, shape)| tensor(p.to_string(), n.to_string(), s, shape))
        .collect();
    for l in 0..d.layers {
        let per_layer = [
            ("q.w", "attention.self.query.weight", Q4_0, vec![h, h]),
            ("q.b", "attention.self.query.bias", F32, vec![h]),
            ("k.w", "attention.self.key.weight", Q4_0, vec![h, h]),
            ("k.b", "attention.self.key.bias", F32, vec![h]),
            ("v.w", "attention.self.value.weight", Q4_0, vec![h, h]),
            ("v.b", "attention.self.value.bias", F32, vec![h]),
            ("ao.w", "attention.output.dense.weight", Q4_0, vec![h, h]),
            ("ao.b", "attention.output.dense.bias", F32, vec![h]),
            ("aln.w", "attention.output.LayerNorm.weight", F32, vec![h]),
            ("aln.b", "attention.output.LayerNorm.bias", F32, vec![h]),
            ("fi.w", "intermediate.dense.weight", Q4_0, vec![ff, h]),
            ("fi.b", "intermediate.dense.bias", F32, vec![ff]),
            ("fo.w", "output.dense.weight", Q4_0, vec![h, ff]),
            ("fo.b", "output.dense.bias", F32, vec![h]),
            ("oln.w", "output.LayerNorm.weight", F32, vec![h]),
            ("oln.b", "output.LayerNorm.bias", F32, vec![h]),
        ];
        for (p, n, s, shape) in per_layer {
            v.push(tensor(
                format!("l{l}.{p}"),
                format!("encoder.layer.{l}.{n}"),
                s,
                shape,
            ));
        }
    }
    v
}

pub(super) fn shape_text(shape: &[usize]) -> String {
    shape.iter().map(usize::to_string).collect::<Vec<_>>().join("×")
}

/// Finds every tensor BERT needs and checks its storage, size and bounds against the header.
pub(super) fn place_tensors(
    path: &Path,
    dims: &Dims,
    dir: &HashMap<String, DirEntry>,
    file_len: usize,
) -> Result<Vec<PackedTensor>, ImportError> {
    let mut out = Vec::new();
    for ExpectedTensor {
        packed_name,
        name,
        stored_as,
        shape,
    } in expected_tensors(dims)
    {
        let Some(e) = dir.get(&packed_name) else {
            return Err(ImportError::TensorMissing {
                path: path.to_path_buf(),
                name: packed_name,
            });
        };
        let elements: usize = shape.iter().product();
        let nbytes = stored_as.bytes_for(elements);
        let mismatch = |found: String| ImportError::TensorShape {
            path: path.to_path_buf(),
            name: packed_name.clone(),
            expected: format!(
                "{} {} ({elements} values, {nbytes} bytes)",
                stored_as.name(),
                shape_text(&shape)
            ),
            found,
        };
        if e.stored_as != stored_as {
            return Err(mismatch(format!("{} storage", e.stored_as.name())));
        }
        if e.elements != elements as u64 || e.nbytes != nbytes as u64 {
            return Err(mismatch(format!("{} values in {} bytes", e.elements, e.nbytes)));
        }
        let inside = e
            .offset
            .checked_add(e.nbytes)
            .is_some_and(|end| end <= file_len as u64);
        if !inside {
            return Err(ImportError::TensorPastEnd {
                path: path.to_path_buf(),
                name: packed_name,
                offset: e.offset,
                end: e.offset.saturating_add(e.nbytes),
                len: file_len as u64,
            });
        }
        out.push(PackedTensor {
            name,
            packed_name,
            shape,
            stored_as,
            offset: e.offset as usize,
            nbytes: e.nbytes as usize,
        });
    }
    if dir.len() > out.len() {
        tracing::debug!(
            extra = dir.len() - out.len(),
            "E5S1 directory holds tensors BERT does not use; ignored"
        );
    }
    Ok(out)
}

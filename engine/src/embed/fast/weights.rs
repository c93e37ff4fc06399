//! The BERT weights the fast pass reads, copied once at load out of the safetensors
//! file into owned buffers, with the query, key and value projections fused into one
//! and every linear layer in the precision asked for.

use super::dense::Dense;
use crate::embed::{EmbedError, Precision};
use safetensors::{Dtype, SafeTensors};
use std::path::Path;

/// One encoder layer's parameters.
pub struct Layer {
    /// Query, key and value projections side by side: `hidden → 3·hidden`.
    pub qkv: Dense,
    pub attn_out: Dense,
    pub attn_norm: (Vec<f32>, Vec<f32>),
    pub ffn_in: Dense,
    pub ffn_out: Dense,
    pub out_norm: (Vec<f32>, Vec<f32>),
}

/// Every parameter of a BERT encoder (the pooler is not used by sentence embeddings).
pub struct Weights {
    pub word: Vec<f32>,
    pub position: Vec<f32>,
    /// Row 0 of the token-type table: sentence embeddings use one segment.
    pub token_type: Vec<f32>,
    pub embed_norm: (Vec<f32>, Vec<f32>),
    pub layers: Vec<Layer>,
    pub hidden: usize,
    pub vocab: usize,
    pub positions: usize,
}

/// Shapes the weights must have, from `config.json`.
pub struct Shape {
    pub hidden: usize,
    pub layers: usize,
    pub intermediate: usize,
    pub vocab: usize,
    pub positions: usize,
}

impl Weights {
    /// Reads every tensor the pass needs, checking each one's dtype and shape.
    pub fn load(path: &Path, shape: &Shape, precision: Precision) -> Result<Self, EmbedError> {
        let err = |reason: String| EmbedError::Weights {
            path: path.to_path_buf(),
            reason,
        };
        let file = std::fs::File::open(path).map_err(|e| EmbedError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        // SAFETY: the model folder is treated as immutable while kefu runs; the map is
        // only read here, copied into owned buffers, and dropped before load returns.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| EmbedError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let st = SafeTensors::deserialize(&map).map_err(|e| err(e.to_string()))?;
        let get = |name: &str, dims: &[usize]| -> Result<Vec<f32>, EmbedError> {
            let t = st
                .tensor(name)
                .or_else(|_| st.tensor(&format!("bert.{name}")))
                .map_err(|_| err(format!("tensor {name} is missing")))?;
            if t.dtype() != Dtype::F32 || t.shape() != dims {
                return Err(err(format!(
                    "tensor {name} is {:?} {:?}, expected F32 {dims:?}",
                    t.dtype(),
                    t.shape()
                )));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let (h, i) = (shape.hidden, shape.intermediate);
        let norm = |prefix: &str| -> Result<(Vec<f32>, Vec<f32>), EmbedError> {
            Ok((
                get(&format!("{prefix}.weight"), &[h])?,
                get(&format!("{prefix}.bias"), &[h])?,
            ))
        };
        let mut layers = Vec::with_capacity(shape.layers);
        for l in 0..shape.layers {
            let p = format!("encoder.layer.{l}");
            let mut qkv_w = Vec::with_capacity(3 * h * h);
            let mut qkv_b = Vec::with_capacity(3 * h);
            for part in ["query", "key", "value"] {
                qkv_w.extend(get(&format!("{p}.attention.self.{part}.weight"), &[h, h])?);
                qkv_b.extend(get(&format!("{p}.attention.self.{part}.bias"), &[h])?);
            }
            let linear = |name: &str, out: usize, inp: usize| -> Result<Dense, EmbedError> {
                Ok(Dense::from_torch(
                    &get(&format!("{p}.{name}.weight"), &[out, inp])?,
                    get(&format!("{p}.{name}.bias"), &[out])?,
                    precision,
                ))
            };
            layers.push(Layer {
                qkv: Dense::from_torch(&qkv_w, qkv_b, precision),
                attn_out: linear("attention.output.dense", h, h)?,
                attn_norm: norm(&format!("{p}.attention.output.LayerNorm"))?,
                ffn_in: linear("intermediate.dense", i, h)?,
                ffn_out: linear("output.dense", h, i)?,
                out_norm: norm(&format!("{p}.output.LayerNorm"))?,
            });
        }
        let mut token_type = get("embeddings.token_type_embeddings.weight", &[2, h])
            .or_else(|_| get("embeddings.token_type_embeddings.weight", &[1, h]))?;
        token_type.truncate(h);
        Ok(Self {
            word: get("embeddings.word_embeddings.weight", &[shape.vocab, h])?,
            position: get("embeddings.position_embeddings.weight", &[shape.positions, h])?,
            token_type,
            embed_norm: norm("embeddings.LayerNorm")?,
            layers,
            hidden: h,
            vocab: shape.vocab,
            positions: shape.positions,
        })
    }
}

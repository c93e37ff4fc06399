//! A BERT forward pass written for short questions on the CPU, behind the same
//! [`Encoder`] seam as the candle reference ([`super::BertEncoder`]), which stays the
//! yardstick its vectors are tested against.
//!
//! - [`weights`] — the parameters, read once from safetensors, QKV fused
//! - [`forward`] — the pass: no padding, rows of all sequences stacked, reused buffers
//! - [`kernels`] — layer norm, GELU, softmax (AVX2+FMA builds picked at run time)
//! - [`dense`] — the linear layers in f32 or int8, and the two-thread column split
//! - [`small_gemm`] — the f32 product for a question's few rows on AVX-512 CPUs
//!   (the `gemm` crate elsewhere)
//! - [`quant`] — int8 weights per output column, activations per token row
//! - [`int8_gemm`] — the int8 product: AVX-512 VNNI, or a portable loop

mod dense;
mod forward;
mod int8_gemm;
mod kernels;
mod quant;
mod small_gemm;
mod weights;

use super::bert::{hash_model, load_config, load_tokenizer, normalize, with_prompt};
use super::model_dir::ModelDir;
use super::{EmbedError, Encoder, ModelId, Precision, TextRole};
use std::sync::OnceLock;
use tokenizers::Tokenizer;

/// The fast encoder: same folder, same tokenizer as the reference; in f32 the same
/// vectors, in int8 vectors of the same space (see [`Precision`]).
pub struct FastEncoder {
    dir: ModelDir,
    precision: Precision,
    tokenizer: Tokenizer,
    weights: weights::Weights,
    plan: forward::Plan,
    id: OnceLock<ModelId>,
}

impl FastEncoder {
    /// Loads a model folder found by [`ModelDir::open`] in f32; every failure names the file at fault.
    pub fn load(dir: &ModelDir) -> Result<Self, EmbedError> {
        Self::load_as(dir, Precision::F32)
    }

    /// Loads a model folder with its linear layers in `precision` (int8 quantises at load).
    pub fn load_as(dir: &ModelDir, precision: Precision) -> Result<Self, EmbedError> {
        let config = load_config(dir)?;
        let tokenizer = load_tokenizer(dir, &config)?;
        let shape = weights::Shape {
            hidden: config.hidden_size,
            layers: config.num_hidden_layers,
            intermediate: config.intermediate_size,
            vocab: config.vocab_size,
            positions: config.max_position_embeddings,
        };
        let weights = weights::Weights::load(&dir.weights, &shape, precision)?;
        Ok(Self {
            dir: dir.clone(),
            precision,
            tokenizer,
            weights,
            plan: forward::Plan {
                heads: config.num_attention_heads,
                eps: config.layer_norm_eps as f32,
                pooling: dir.pooling,
                threads: 1,
            },
            id: OnceLock::new(),
        })
    }

    /// Opens and loads a model folder.
    pub fn from_dir(path: &std::path::Path) -> Result<Self, EmbedError> {
        Self::load(&ModelDir::open(path)?)
    }

    /// Lets each matrix product use `threads` threads (1, the default, keeps a call on its own thread).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.plan.threads = threads.max(1);
        self
    }
}

impl Encoder for FastEncoder {
    fn dim(&self) -> usize {
        self.weights.hidden
    }

    fn model_id(&self) -> Result<&ModelId, EmbedError> {
        if let Some(id) = self.id.get() {
            return Ok(id);
        }
        let id = hash_model(&self.dir, self.weights.hidden, self.precision)?;
        Ok(self.id.get_or_init(|| id))
    }

    fn embed_as(&self, role: TextRole, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let prompted: Vec<String> = texts.iter().map(|t| with_prompt(&self.dir, role, t)).collect();
        let encodings = self
            .tokenizer
            .encode_batch(prompted, true)
            .map_err(|e| EmbedError::Inference(format!("tokenizer: {e}")))?;
        // The tokenizer pads on the right to the batch's longest: keep each text's own tokens.
        let seqs: Vec<&[u32]> = encodings
            .iter()
            .map(|e| {
                let len = e.get_attention_mask().iter().filter(|&&m| m != 0).count();
                &e.get_ids()[..len]
            })
            .collect();
        let mut out = self.encode(&seqs)?;
        out.iter_mut().for_each(|v| normalize(v));
        Ok(out)
    }
}

impl FastEncoder {
    /// With two or more threads, a batch is cut in two halves of about equal tokens run
    /// side by side, one thread each (attention and the element-wise kernels then
    /// parallelise too); a single text splits its products' columns instead.
    fn encode(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.plan.threads < 2 || seqs.len() < 2 {
            return forward::encode(&self.weights, &self.plan, seqs);
        }
        let total: usize = seqs.iter().map(|s| s.len()).sum();
        let mut acc = 0;
        let cut = seqs
            .iter()
            .position(|s| {
                acc += s.len();
                2 * acc >= total
            })
            .map_or(1, |i| (i + 1).clamp(1, seqs.len() - 1));
        let one = forward::Plan {
            threads: 1,
            ..self.plan
        };
        let (a, b) = rayon::join(
            || forward::encode(&self.weights, &one, &seqs[..cut]),
            || forward::encode(&self.weights, &one, &seqs[cut..]),
        );
        let mut out = a?;
        out.extend(b?);
        Ok(out)
    }
}

//! A BERT forward pass written for short questions on the CPU, behind the same
//! [`Encoder`] seam as the candle reference ([`super::BertEncoder`]), which stays the
//! yardstick its vectors are tested against.
//!
//! - [`weights`] — the parameters, read once from safetensors, QKV fused
//! - [`forward`] — the pass: no padding, rows of all sequences stacked, reused buffers
//! - [`kernels`] — layer norm, GELU, softmax (AVX2+FMA builds picked at run time)
//! - [`dense`] — the linear layers in f32 or int8, runnable in column parts
//! - [`team`] — the encoder's helper threads, spinning between a pass's steps
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
mod team;
mod weights;

use super::bert::{hash_model, load_config, load_tokenizer, normalize, with_prompt};
use super::model_dir::ModelDir;
use super::{EmbedError, Encoder, ModelId, Precision, TextRole};
use std::sync::{Mutex, OnceLock, TryLockError};
use tokenizers::Tokenizer;

/// The fast encoder: same folder, same tokenizer as the reference; in f32 the same
/// vectors, in int8 vectors of the same space (see [`Precision`]).
pub struct FastEncoder {
    dir: ModelDir,
    precision: Precision,
    tokenizer: Tokenizer,
    weights: weights::Weights,
    plan: forward::Plan,
    /// The helpers a call may share its pass with (`with_threads`); a call that finds
    /// them busy with another call runs alone rather than wait.
    team: Option<Mutex<team::Team>>,
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
            },
            team: None,
            id: OnceLock::new(),
        })
    }

    /// Opens and loads a model folder.
    pub fn from_dir(path: &std::path::Path) -> Result<Self, EmbedError> {
        Self::load(&ModelDir::open(path)?)
    }

    /// Lets a call share its pass with `threads - 1` helper threads (1, the default,
    /// keeps a call on its own thread).
    pub fn with_threads(mut self, threads: usize) -> Self {
        self.team = (threads > 1).then(|| Mutex::new(team::Team::new(threads)));
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
    /// With a team free, one text shares every step of its pass with the helpers, and a
    /// batch is cut into one share of about equal tokens per member, each run alone on
    /// its member's thread; with no team (or one busy with another call), all here.
    fn encode(&self, seqs: &[&[u32]]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut guard = match self.team.as_ref().map(Mutex::try_lock) {
            Some(Ok(g)) => Some(g),
            // A panic inside a pass leaves the team consistent (`Team::run` waits for
            // every member even while unwinding), so a poisoned lock is still usable.
            Some(Err(TryLockError::Poisoned(p))) => Some(p.into_inner()),
            Some(Err(TryLockError::WouldBlock)) | None => None,
        };
        let Some(team) = guard.as_deref_mut() else {
            return forward::encode(&self.weights, &self.plan, seqs, None);
        };
        if seqs.len() < 2 {
            return forward::encode(&self.weights, &self.plan, seqs, Some(team));
        }
        let cuts = token_shares(seqs, team.size());
        let shares: Vec<Mutex<Option<Vectors>>> = (0..team.size()).map(|_| Mutex::new(None)).collect();
        team.run(&|i| {
            let own = &seqs[cuts[i]..cuts[i + 1]];
            let vectors = forward::encode(&self.weights, &self.plan, own, None);
            *shares[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(vectors);
        });
        let mut out = Vec::with_capacity(seqs.len());
        for share in shares {
            if let Some(vectors) = share.into_inner().unwrap_or_else(|p| p.into_inner()) {
                out.extend(vectors?);
            }
        }
        Ok(out)
    }
}

/// One share's pass: its texts' vectors, or why it failed.
type Vectors = Result<Vec<Vec<f32>>, EmbedError>;

/// Cuts `seqs` into `members` contiguous shares of about equal tokens: share `i` is
/// `seqs[cuts[i]..cuts[i + 1]]` (a share may be empty).
fn token_shares(seqs: &[&[u32]], members: usize) -> Vec<usize> {
    let total: usize = seqs.iter().map(|s| s.len()).sum();
    let mut cuts = vec![0];
    let mut acc = 0;
    for (i, s) in seqs.iter().enumerate() {
        acc += s.len();
        while cuts.len() < members && acc * members >= total * cuts.len() {
            cuts.push(i + 1);
        }
    }
    cuts.resize(members + 1, seqs.len());
    cuts
}

#[cfg(test)]
mod tests {
    use super::token_shares;

    #[test]
    fn token_shares_are_contiguous_and_about_equal() {
        let a = [1u32; 10];
        let seqs: Vec<&[u32]> = vec![&a[..4], &a[..4], &a[..4], &a[..4]];
        assert_eq!(token_shares(&seqs, 2), vec![0, 2, 4]);
        let seqs: Vec<&[u32]> = vec![&a[..10], &a[..1], &a[..1]];
        assert_eq!(token_shares(&seqs, 2), vec![0, 1, 3]);
        assert_eq!(token_shares(&seqs[..1], 3), vec![0, 1, 1, 1]);
    }
}

//! The reference encoder: candle's BERT over a sentence-transformers folder.

use super::model_dir::{ModelDir, Pooling};
use super::{EmbedError, Encoder, ModelId, Precision, TextRole};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use tokenizers::{PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// A BERT-family sentence encoder running on the CPU through candle.
pub struct BertEncoder {
    dir: ModelDir,
    model: BertModel,
    tokenizer: Tokenizer,
    dim: usize,
    device: Device,
    id: OnceLock<ModelId>,
}

impl BertEncoder {
    /// Loads a model folder found by [`ModelDir::open`]; every failure names the file at fault.
    pub fn load(dir: &ModelDir) -> Result<Self, EmbedError> {
        let config = load_config(dir)?;
        let tokenizer = load_tokenizer(dir, &config)?;
        let device = Device::Cpu;
        let weights_err = |e: candle_core::Error| EmbedError::Weights {
            path: dir.weights.clone(),
            reason: e.to_string(),
        };
        // SAFETY: the model folder is treated as immutable while kefu runs; the
        // mapping is only read, and safetensors validates the header and every
        // tensor's offsets against the file length before use.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&dir.weights], DType::F32, &device) }
            .map_err(weights_err)?;
        let model = BertModel::load(vb, &config).map_err(weights_err)?;
        Ok(Self {
            dir: dir.clone(),
            model,
            tokenizer,
            dim: config.hidden_size,
            device,
            id: OnceLock::new(),
        })
    }

    /// Opens and loads the folder chosen by [`ModelDir::resolve`].
    pub fn from_dir(path: &std::path::Path) -> Result<Self, EmbedError> {
        Self::load(&ModelDir::open(path)?)
    }

    /// The folder this encoder was loaded from.
    pub fn model_dir(&self) -> &ModelDir {
        &self.dir
    }

    /// The token ids the model sees for one text, prompt and special tokens included.
    pub fn token_ids(&self, role: TextRole, text: &str) -> Result<Vec<u32>, EmbedError> {
        let enc = self
            .tokenizer
            .encode(self.with_prompt(role, text), true)
            .map_err(|e| EmbedError::Inference(format!("tokenizer: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text with the folder's prefix for its role (E5's `query: `), if it has one.
    fn with_prompt(&self, role: TextRole, text: &str) -> String {
        with_prompt(&self.dir, role, text)
    }

    fn forward(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let infer = |e: candle_core::Error| EmbedError::Inference(e.to_string());
        let encodings = self
            .tokenizer
            .encode_batch(texts.iter().map(String::as_str).collect::<Vec<_>>(), true)
            .map_err(|e| EmbedError::Inference(format!("tokenizer: {e}")))?;
        let batch = encodings.len();
        let seq = encodings.iter().map(|e| e.len()).max().unwrap_or(0);
        let mut ids = Vec::with_capacity(batch * seq);
        let mut mask = Vec::with_capacity(batch * seq);
        for enc in &encodings {
            ids.extend_from_slice(enc.get_ids());
            mask.extend_from_slice(enc.get_attention_mask());
        }
        let ids_t = Tensor::from_vec(ids, (batch, seq), &self.device).map_err(infer)?;
        let mask_t = Tensor::from_vec(mask.clone(), (batch, seq), &self.device).map_err(infer)?;
        let types_t = ids_t.zeros_like().map_err(infer)?;
        let hidden = self
            .model
            .forward(&ids_t, &types_t, Some(&mask_t))
            .map_err(infer)?;
        let flat: Vec<f32> = hidden.flatten_all().and_then(|t| t.to_vec1()).map_err(infer)?;

        let dim = self.dim;
        let mut out = Vec::with_capacity(batch);
        for b in 0..batch {
            let rows = &flat[b * seq * dim..(b + 1) * seq * dim];
            let mut v = vec![0f32; dim];
            match self.dir.pooling {
                Pooling::Cls => v.copy_from_slice(&rows[..dim]),
                Pooling::Mean => {
                    let m = &mask[b * seq..(b + 1) * seq];
                    let mut n = 0f32;
                    for (t, &keep) in m.iter().enumerate() {
                        if keep != 0 {
                            n += 1.0;
                            for (acc, x) in v.iter_mut().zip(&rows[t * dim..(t + 1) * dim]) {
                                *acc += x;
                            }
                        }
                    }
                    let n = n.max(1.0);
                    v.iter_mut().for_each(|x| *x /= n);
                }
            }
            normalize(&mut v);
            out.push(v);
        }
        Ok(out)
    }
}

/// Reads and checks `config.json` (shared by every BERT-family encoder here).
pub(super) fn load_config(dir: &ModelDir) -> Result<Config, EmbedError> {
    let config_bytes = std::fs::read(&dir.config).map_err(|e| EmbedError::Io {
        path: dir.config.clone(),
        source: e,
    })?;
    let config: Config = serde_json::from_slice(&config_bytes).map_err(|e| EmbedError::InvalidConfig {
        path: dir.config.clone(),
        reason: e.to_string(),
    })?;
    if config.num_attention_heads == 0 || !config.hidden_size.is_multiple_of(config.num_attention_heads) {
        return Err(EmbedError::InvalidConfig {
            path: dir.config.clone(),
            reason: format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                config.hidden_size, config.num_attention_heads
            ),
        });
    }
    if let Some(pooled) = dir.pooling_dim
        && pooled != config.hidden_size
    {
        return Err(EmbedError::Dimension {
            path: dir.root.join("1_Pooling/config.json"),
            reason: format!(
                "word_embedding_dimension is {pooled} but config.json has hidden_size {}",
                config.hidden_size
            ),
        });
    }

    Ok(config)
}

/// The folder's tokenizer, padding to the batch's longest text and truncating to the model's limit.
pub(super) fn load_tokenizer(dir: &ModelDir, config: &Config) -> Result<Tokenizer, EmbedError> {
    let mut tokenizer = Tokenizer::from_file(&dir.tokenizer).map_err(|e| EmbedError::Tokenizer {
        path: dir.tokenizer.clone(),
        reason: e.to_string(),
    })?;
    let vocab = tokenizer.get_vocab_size(true);
    if vocab > config.vocab_size {
        return Err(EmbedError::Dimension {
            path: dir.tokenizer.clone(),
            reason: format!(
                "tokenizer has {vocab} tokens but the model's vocab_size is {}",
                config.vocab_size
            ),
        });
    }
    // all-MiniLM's tokenizer.json ships padding Fixed(128): pad to the batch's longest instead.
    let pad_id = tokenizer
        .get_padding()
        .map(|p| p.pad_id)
        .unwrap_or(config.pad_token_id as u32);
    let pad_token = tokenizer
        .get_padding()
        .map(|p| p.pad_token.clone())
        .unwrap_or_else(|| "[PAD]".into());
    tokenizer.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        pad_id,
        pad_token,
        ..Default::default()
    }));
    let max_len = dir.max_seq_length.min(config.max_position_embeddings);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_len,
            ..Default::default()
        }))
        .map_err(|e| EmbedError::Tokenizer {
            path: dir.tokenizer.clone(),
            reason: e.to_string(),
        })?;

    Ok(tokenizer)
}

/// The text with the folder's prefix for its role (E5's `query: `), if it has one.
pub(super) fn with_prompt(dir: &ModelDir, role: TextRole, text: &str) -> String {
    let prefix = match role {
        TextRole::Query => &dir.prompts.query,
        TextRole::Passage => &dir.prompts.passage,
    };
    format!("{prefix}{text}")
}

/// Names the weights by the sha256 of `model.safetensors` (read once, when first asked).
pub(super) fn hash_model(dir: &ModelDir, dim: usize, variant: Precision) -> Result<ModelId, EmbedError> {
    let mut file = std::fs::File::open(&dir.weights).map_err(|e| EmbedError::Io {
        path: dir.weights.clone(),
        source: e,
    })?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).map_err(|e| EmbedError::Io {
        path: dir.weights.clone(),
        source: e,
    })?;
    let mut id = ModelId::f32(dir.name(), format!("{:x}", hasher.finalize()), dim);
    id.variant = variant;
    Ok(id)
}

/// Scales a vector to unit length (a zero vector stays zero).
pub(crate) fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
}

impl Encoder for BertEncoder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn model_id(&self) -> Result<&ModelId, EmbedError> {
        if let Some(id) = self.id.get() {
            return Ok(id);
        }
        let id = hash_model(&self.dir, self.dim, Precision::F32)?;
        Ok(self.id.get_or_init(|| id))
    }

    fn embed_as(&self, role: TextRole, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let prefixed: Vec<String> = texts.iter().map(|t| self.with_prompt(role, t)).collect();
        self.forward(&prefixed)
    }
}

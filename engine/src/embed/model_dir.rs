//! Finding a sentence-transformers model folder and reading its small JSON files.

use super::EmbedError;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// Where the default model lives, relative to the working directory.
pub const DEFAULT_MODEL_DIR: &str = "models/all-MiniLM-L6-v2";
/// Environment variable that names the model folder when no flag does.
pub const MODEL_DIR_ENV: &str = "KEFU_MODEL_DIR";

/// How token vectors become one sentence vector (sentence-transformers `1_Pooling/config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

/// Prefixes prepended to texts by role (E5-style `query: ` / `passage: `).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prompts {
    pub query: String,
    pub passage: String,
}

/// A checked model folder: every file exists and the small configs parse.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub root: PathBuf,
    pub config: PathBuf,
    pub weights: PathBuf,
    pub tokenizer: PathBuf,
    pub pooling: Pooling,
    /// Tokens kept per text; longer texts are truncated.
    pub max_seq_length: usize,
    pub prompts: Prompts,
    /// Dimension announced by the pooling config, checked against the weights.
    pub pooling_dim: Option<usize>,
}

#[derive(Deserialize)]
struct PoolingConfig {
    word_embedding_dimension: Option<usize>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
}

#[derive(Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
}

#[derive(Deserialize, Default)]
struct SentenceTransformersConfig {
    #[serde(default)]
    prompts: std::collections::HashMap<String, String>,
}

impl ModelDir {
    /// Picks the model folder: explicit flag, then `KEFU_MODEL_DIR`, then [`DEFAULT_MODEL_DIR`],
    /// relative ones read from the working directory. The one rule every command follows
    /// (the server's config spells the same three layers with its file in between).
    pub fn resolve(explicit: Option<&Path>) -> PathBuf {
        match explicit {
            Some(p) => p.to_path_buf(),
            None => Self::resolve_in(Path::new("")),
        }
    }

    /// `KEFU_MODEL_DIR`, then [`DEFAULT_MODEL_DIR`], a relative one read from `base`: tests
    /// and benches pass the repository root because cargo runs them in their crate's folder.
    pub fn resolve_in(base: &Path) -> PathBuf {
        match std::env::var_os(MODEL_DIR_ENV) {
            Some(v) if !v.is_empty() => base.join(v),
            _ => base.join(DEFAULT_MODEL_DIR),
        }
    }

    /// Checks that `root` is a loadable sentence-transformers folder, without reading weights.
    pub fn open(root: &Path) -> Result<Self, EmbedError> {
        if !root.is_dir() {
            return Err(EmbedError::ModelDirMissing {
                path: root.to_path_buf(),
            });
        }
        let need = |name: &str| {
            let p = root.join(name);
            if p.is_file() {
                Ok(p)
            } else {
                Err(EmbedError::FileMissing { path: p })
            }
        };
        let config = need("config.json")?;
        let weights = need("model.safetensors")?;
        let tokenizer = need("tokenizer.json")?;

        let (pooling, pooling_dim) =
            match optional_json::<PoolingConfig>(&root.join("1_Pooling/config.json"))? {
                None => (Pooling::Mean, None),
                Some(pc) => {
                    let path = root.join("1_Pooling/config.json");
                    let pooling = if pc.pooling_mode_cls_token {
                        Pooling::Cls
                    } else if pc.pooling_mode_mean_tokens {
                        Pooling::Mean
                    } else if pc.pooling_mode_max_tokens || pc.pooling_mode_mean_sqrt_len_tokens {
                        return Err(EmbedError::InvalidConfig {
                            path,
                            reason: "only mean and cls pooling are supported".into(),
                        });
                    } else {
                        return Err(EmbedError::InvalidConfig {
                            path,
                            reason: "no pooling mode is enabled".into(),
                        });
                    };
                    (pooling, pc.word_embedding_dimension)
                }
            };
        let sbert = optional_json::<SentenceBertConfig>(&root.join("sentence_bert_config.json"))?;
        let max_seq_length = sbert.and_then(|c| c.max_seq_length).unwrap_or(512);
        if max_seq_length == 0 {
            return Err(EmbedError::InvalidConfig {
                path: root.join("sentence_bert_config.json"),
                reason: "max_seq_length is 0".into(),
            });
        }
        let st =
            optional_json::<SentenceTransformersConfig>(&root.join("config_sentence_transformers.json"))?
                .unwrap_or_default();
        let prompts = Prompts {
            query: st.prompts.get("query").cloned().unwrap_or_default(),
            passage: st
                .prompts
                .get("passage")
                .or_else(|| st.prompts.get("document"))
                .cloned()
                .unwrap_or_default(),
        };
        Ok(Self {
            root: root.to_path_buf(),
            config,
            weights,
            tokenizer,
            pooling,
            max_seq_length,
            prompts,
            pooling_dim,
        })
    }

    /// The folder's last path component: the human-readable model name.
    pub fn name(&self) -> String {
        self.root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone())
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    }
}

/// Reads a JSON file that may be absent; present but invalid is an error naming the file.
pub(super) fn optional_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, EmbedError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EmbedError::InvalidConfig {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EmbedError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

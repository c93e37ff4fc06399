//! What every handler shares: the served index (swapped, never mutated), the
//! encoder queue, the embedding cache, limits and metrics.

use crate::batcher::{EncoderQueue, QueueFull};
use crate::config::Config;
use crate::metrics::{Metrics, RpcLabels, VersionLabel};
use arc_swap::ArcSwap;
use kefu_engine::echo::clip;
use kefu_engine::embed::{EmbedError, Encoder, ModelId};
use kefu_engine::index::format::CURRENT;
use kefu_engine::index::reader::resolve_version_dir;
use kefu_engine::index::{Index, IndexError};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("model: {0}")]
    Model(#[from] EmbedError),
    #[error("index: {0}")]
    Index(#[from] IndexError),
    #[error("{0}")]
    Mismatch(String),
    #[error("routing state: {0}")]
    Routing(#[from] kefu_engine::route::RouteError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Why a reload was refused; the old version keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{} is not a version name (a directory name under the index root, without '/' or '..')", clip(.0))]
    BadName(String),
    #[error("no index version {} under {root}", clip(.name))]
    NotFound { name: String, root: PathBuf },
    #[error(
        "{} leads to {target}, outside the index root {root} (a symlink?); still serving {serving}",
        clip(.name)
    )]
    OutsideRoot {
        name: String,
        target: PathBuf,
        root: PathBuf,
        serving: String,
    },
    #[error("refused {dir}: {source}; still serving {serving}")]
    Broken {
        dir: PathBuf,
        serving: String,
        #[source]
        source: IndexError,
    },
    #[error("refused {dir}: {reason}; still serving {serving}")]
    Mismatch {
        dir: PathBuf,
        reason: String,
        serving: String,
    },
}

/// Why a question's embedding could not be had.
#[derive(Debug, thiserror::Error)]
pub enum EmbedFailure {
    #[error(transparent)]
    Busy(#[from] QueueFull),
    #[error("encoder failed: {0}")]
    Encoder(Arc<EmbedError>),
    #[error("encoder stopped")]
    Stopped,
}

/// Shared by every handler.
pub struct AppState {
    pub config: Config,
    /// The directory versions are looked up in.
    pub index_root: PathBuf,
    index: ArcSwap<Index>,
    pub encoder: EncoderQueue,
    pub model: ModelId,
    cache: moka::future::Cache<String, Arc<Vec<f32>>>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    reload_lock: std::sync::Mutex<()>,
}

impl AppState {
    /// Loads the model and the index, and checks they belong together.
    pub fn load(config: Config) -> Result<Self, StartError> {
        let encoder: Arc<dyn Encoder> = kefu_engine::embed::load(&config.model, config.encoder)?.into();
        let model = encoder.model_id()?.clone();
        tracing::info!(model = %model.name, encoder = %config.encoder, "encoder loaded");
        let index = Index::open(&config.index)?;
        check_model(&index, &model).map_err(StartError::Mismatch)?;
        // A version directory given directly: its parent is the root Reload looks in.
        let index_root = if config.index.join(kefu_engine::index::format::MANIFEST).is_file() {
            config
                .index
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| config.index.clone())
        } else {
            config.index.clone()
        };
        let metrics = Arc::new(Metrics::new());
        let encoder_queue =
            EncoderQueue::start(encoder, config.encoder_queue, config.max_batch, metrics.clone());
        let state = Self {
            cache: moka::future::Cache::new(config.cache_entries),
            index_root,
            index: ArcSwap::from_pointee(index),
            encoder: encoder_queue,
            model,
            metrics,
            started: Instant::now(),
            reload_lock: std::sync::Mutex::new(()),
            config,
        };
        state.publish_index_metrics(None);
        Ok(state)
    }

    /// The index serving now; in-flight calls keep the one they took.
    pub fn index(&self) -> Arc<Index> {
        self.index.load_full()
    }

    fn publish_index_metrics(&self, previous: Option<&str>) {
        let index = self.index();
        if let Some(p) = previous {
            self.metrics
                .index_info
                .get_or_create(&VersionLabel {
                    version: p.to_string(),
                })
                .set(0);
        }
        self.metrics
            .index_info
            .get_or_create(&VersionLabel {
                version: index.manifest().version.clone(),
            })
            .set(1);
        self.metrics.index_vectors.set(index.points() as i64);
    }

    /// Opens and checks another version, then swaps it in; on any fault the old one keeps serving.
    ///
    /// `version` names a directory under the index root; `None` re-reads `current`.
    /// Blocking (it may verify checksums): call it off the async runtime.
    pub fn reload(&self, version: Option<&str>, trigger: &str) -> Result<(String, String), ReloadError> {
        let _one_at_a_time = self.reload_lock.lock().unwrap_or_else(|e| e.into_inner());
        let result = self.reload_locked(version);
        self.metrics
            .reloads
            .get_or_create(&RpcLabels {
                rpc: trigger.to_string(),
                code: if result.is_ok() { "ok" } else { "refused" }.to_string(),
            })
            .inc();
        match &result {
            Ok((from, to)) => tracing::info!(from = %from, to = %to, trigger, "index reloaded"),
            Err(e) => tracing::warn!(error = %e, trigger, "index reload refused"),
        }
        result
    }

    fn reload_locked(&self, version: Option<&str>) -> Result<(String, String), ReloadError> {
        let serving = self.index().manifest().version.clone();
        let dir = match version.filter(|v| !v.is_empty()) {
            None => self.index_root.clone(),
            Some(name) => {
                if !is_version_name(name) {
                    return Err(ReloadError::BadName(name.to_string()));
                }
                let dir = self.index_root.join(name);
                if !dir.is_dir() {
                    return Err(ReloadError::NotFound {
                        name: name.to_string(),
                        root: self.index_root.clone(),
                    });
                }
                dir
            }
        };
        let broken = |source| ReloadError::Broken {
            dir: dir.clone(),
            serving: serving.clone(),
            source,
        };
        // A name (or `current`) may be a symlink: only what really lies under
        // the root may be served, or Reload becomes "serve any directory".
        let version_dir = resolve_version_dir(&dir).map_err(broken)?;
        let inside = |p: &Path| {
            std::fs::canonicalize(p).map_err(|e| {
                broken(IndexError::Io {
                    path: p.to_path_buf(),
                    source: e,
                })
            })
        };
        let (real_root, real_dir) = (inside(&self.index_root)?, inside(&version_dir)?);
        if real_dir == real_root || !real_dir.starts_with(&real_root) {
            return Err(ReloadError::OutsideRoot {
                name: version.filter(|v| !v.is_empty()).unwrap_or(CURRENT).to_string(),
                target: real_dir,
                root: real_root,
                serving: serving.clone(),
            });
        }
        let index = Index::open(&real_dir).map_err(broken)?;
        if self.config.verify_on_reload {
            index.verify().map_err(broken)?;
        }
        check_model(&index, &self.model).map_err(|reason| ReloadError::Mismatch {
            dir: dir.clone(),
            reason,
            serving: serving.clone(),
        })?;
        let to = index.manifest().version.clone();
        self.index.store(Arc::new(index));
        self.publish_index_metrics(Some(&serving));
        Ok((serving, to))
    }

    /// The question's embedding: from the cache, else from the encoder queue.
    /// Concurrent misses for one text share a single encoder call.
    pub async fn embed_question(&self, text: &str) -> Result<(Arc<Vec<f32>>, bool), EmbedFailure> {
        let normalised = normalise(text);
        let key = format!("{}\u{0}{normalised}", self.model.sha256);
        if let Some(v) = self.cache.get(&key).await {
            self.metrics.cache_hits.inc();
            return Ok((v, true));
        }
        self.metrics.cache_misses.inc();
        let v = self
            .cache
            .try_get_with(key, async {
                let rx = self.encoder.submit(normalised)?;
                match rx.await {
                    Ok(Ok(v)) => Ok(Arc::new(v)),
                    Ok(Err(e)) => Err(EmbedFailure::Encoder(e)),
                    Err(_) => Err(EmbedFailure::Stopped),
                }
            })
            .await
            .map_err(|e: Arc<EmbedFailure>| match &*e {
                EmbedFailure::Busy(q) => EmbedFailure::Busy(*q),
                EmbedFailure::Encoder(x) => EmbedFailure::Encoder(x.clone()),
                EmbedFailure::Stopped => EmbedFailure::Stopped,
            })?;
        Ok((v, false))
    }

    /// Embeds texts without the cache (the Embed RPC), batched by the queue.
    pub async fn embed_texts(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedFailure> {
        let receivers = texts
            .into_iter()
            .map(|t| self.encoder.submit(t))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = Vec::with_capacity(receivers.len());
        for rx in receivers {
            match rx.await {
                Ok(Ok(v)) => out.push(v),
                Ok(Err(e)) => return Err(EmbedFailure::Encoder(e)),
                Err(_) => return Err(EmbedFailure::Stopped),
            }
        }
        Ok(out)
    }
}

/// One spelling per question (NFKC, controls removed, whitespace collapsed): the cache key and what is embedded.
pub fn normalise(text: &str) -> String {
    kefu_engine::resolve::text::normalize(text)
}

fn is_version_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// An index answers only queries embedded by the model that built it.
fn check_model(index: &Index, model: &ModelId) -> Result<(), String> {
    let built = &index.manifest().model;
    if built.sha256 != model.sha256 || built.dim != model.dim {
        return Err(format!(
            "index {} was built with model {} (sha256 {}, dim {}) but the server runs {} (sha256 {}, dim {})",
            index.manifest().version,
            built.name,
            built.sha256,
            built.dim,
            model.name,
            model.sha256,
            model.dim
        ));
    }
    Ok(())
}

//! What every handler shares: the served index (swapped, never mutated), the
//! encoder queue, the embedding cache, limits and metrics.

use crate::admission::Refused;
use crate::batcher::{EncoderQueue, Failed, Lane};
use crate::config::Config;
use crate::metrics::{Metrics, RpcLabels, VersionLabel};
use arc_swap::ArcSwap;
use kefu_engine::echo::clip;
use kefu_engine::embed::{EmbedError, Encoder, ModelId};
use kefu_engine::index::{Index, IndexError, IndexRoot, LocateError};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

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
    #[error("API keys: {0}")]
    Keys(#[from] crate::auth::keys::KeyError),
    #[error("TLS: {0}")]
    Tls(String),
    #[error("{0}")]
    Exposed(String),
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
#[derive(Debug, Clone, thiserror::Error)]
pub enum EmbedFailure {
    /// Not admitted: the expected wait does not fit the budget or the deadline (RESOURCE_EXHAUSTED).
    #[error(transparent)]
    Busy(#[from] Refused),
    /// The caller's deadline passed while the text waited (DEADLINE_EXCEEDED).
    #[error("the call's deadline passed while waiting for the encoder")]
    Expired,
    #[error("encoder failed: {0}")]
    Encoder(Arc<EmbedError>),
    #[error("encoder stopped")]
    Stopped,
}

impl From<Failed> for EmbedFailure {
    fn from(f: Failed) -> Self {
        match f {
            Failed::Encoder(e) => EmbedFailure::Encoder(e),
            Failed::Expired => EmbedFailure::Expired,
        }
    }
}

/// Waits for the worker's vectors, giving up at `deadline`.
async fn receive(
    receivers: Vec<oneshot::Receiver<crate::batcher::Embedded>>,
    deadline: Option<Instant>,
) -> Result<Vec<Vec<f32>>, EmbedFailure> {
    let all = async {
        let mut out = Vec::with_capacity(receivers.len());
        for rx in receivers {
            out.push(rx.await.map_err(|_| EmbedFailure::Stopped)??);
        }
        Ok(out)
    };
    match deadline {
        None => all.await,
        Some(d) => tokio::time::timeout_at(d.into(), all)
            .await
            .unwrap_or(Err(EmbedFailure::Expired)),
    }
}

/// Shared by every handler.
pub struct AppState {
    pub config: Config,
    /// The directory versions are looked up in.
    pub index_root: IndexRoot,
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
        let encoder: Arc<dyn Encoder> = kefu_engine::embed::load(
            &config.model,
            kefu_engine::embed::Choice {
                backend: config.encoder,
                precision: config.precision,
                threads: config.encoder_threads,
            },
        )?
        .into();
        let model = encoder.model_id()?.clone();
        tracing::info!(model = %model.space.name, encoder = %config.encoder, precision = %config.precision, "encoder loaded");
        let index = Index::open(&config.index)?;
        check_model(&index, &model).map_err(StartError::Mismatch)?;
        kefu_engine::resolve::rank::prepare(&index);
        // A version directory given directly: its parent is the root Reload looks in.
        let index_root = IndexRoot::containing(&config.index);
        let metrics = Arc::new(Metrics::new());
        let encoder_queue = EncoderQueue::start(
            encoder,
            config.encoder_workers,
            config.encoder_queue,
            config.max_batch,
            Duration::from_millis(config.encoder_wait_budget_ms),
            metrics.clone(),
        );
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
            Some(name) => self.index_root.path().join(name),
            None => self.index_root.path().to_path_buf(),
        };
        let broken = |source| ReloadError::Broken {
            dir: dir.clone(),
            serving: serving.clone(),
            source,
        };
        let real_dir = self.index_root.locate(version).map_err(|e| match e {
            LocateError::BadName(name) => ReloadError::BadName(name),
            LocateError::NotFound { name, root } => ReloadError::NotFound { name, root },
            LocateError::OutsideRoot { name, target, root } => ReloadError::OutsideRoot {
                name,
                target,
                root,
                serving: serving.clone(),
            },
            LocateError::Index(source) => broken(source),
        })?;
        let index = Index::open(&real_dir).map_err(broken)?;
        if self.config.verify_on_reload {
            index.verify().map_err(broken)?;
        }
        check_model(&index, &self.model).map_err(|reason| ReloadError::Mismatch {
            dir: dir.clone(),
            reason,
            serving: serving.clone(),
        })?;
        kefu_engine::resolve::rank::prepare(&index);
        let to = index.manifest().version.clone();
        self.index.store(Arc::new(index));
        self.publish_index_metrics(Some(&serving));
        Ok((serving, to))
    }

    /// The question's embedding: from the cache, else from the encoder's interactive lane.
    /// Concurrent misses for one text share a single encoder call. Refused at once
    /// when the expected wait does not fit; `Expired` when `deadline` passes first.
    pub async fn embed_question(
        &self,
        text: &str,
        deadline: Option<Instant>,
    ) -> Result<(Arc<Vec<f32>>, bool), EmbedFailure> {
        let normalised = normalise(text);
        let key = format!("{}\u{0}{normalised}", self.model.space.sha256);
        if let Some(v) = self.cache.get(&key).await {
            self.metrics.cache_hits.inc();
            return Ok((v, true));
        }
        self.metrics.cache_misses.inc();
        loop {
            let v = self
                .cache
                .try_get_with(key.clone(), async {
                    let rx = self
                        .encoder
                        .submit(Lane::Interactive, vec![normalised.clone()], deadline)?;
                    Ok(Arc::new(receive(rx, deadline).await?.remove(0)))
                })
                .await
                .map_err(|e: Arc<EmbedFailure>| (*e).clone());
            match v {
                // A concurrent caller with an earlier deadline owned the shared
                // encoder call and ran out of time: ours may still have some.
                Err(EmbedFailure::Expired) if deadline.is_none_or(|d| Instant::now() < d) => continue,
                v => return Ok((v?, false)),
            }
        }
    }

    /// Embeds texts without the cache (the Embed RPC, agent expertise) in the
    /// encoder's bulk lane: chunked, and passed by interactive questions.
    pub async fn embed_texts(
        &self,
        texts: Vec<String>,
        deadline: Option<Instant>,
    ) -> Result<Vec<Vec<f32>>, EmbedFailure> {
        let receivers = self.encoder.submit(Lane::Bulk, texts, deadline)?;
        receive(receivers, deadline).await
    }
}

/// One spelling per question (NFKC, controls removed, whitespace collapsed): the cache key and what is embedded.
pub fn normalise(text: &str) -> String {
    kefu_engine::resolve::text::normalize(text)
}

/// An index answers only queries embedded by the model that built it.
fn check_model(index: &Index, model: &ModelId) -> Result<(), String> {
    let built = &index.manifest().model;
    match model.space_mismatch(built) {
        Some(why) => Err(format!("index {} was {why}", index.manifest().version)),
        None => Ok(()),
    }
}

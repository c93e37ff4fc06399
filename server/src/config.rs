//! Server settings: ONE struct, [`Config`], that clap (flags and `KEFU_*` environment
//! variables) and the TOML file named by `--config` all fill, with precedence
//! flag > environment > file > default. Each setting is written once, here: its doc line
//! is the `--help` text, its `#[arg]` holds the flag, the variable and the default, and its
//! field name is the TOML key. [`layers`] merges the sources and remembers where each value
//! came from; [`Config::validate`] checks the merged values once, at load.
//!
//! To add a setting: add a field below with a one-line doc comment and
//! `#[arg(long, env = "KEFU_<NAME>", default_value_t = …)]` (an `Option` with no default when
//! "unset" means something, plus `#[serde(default)]`), and a line in `validate` if it has a
//! range. `--help`, the TOML file, `--print-config` and error messages pick it up.

pub mod layers;

use kefu_engine::embed::{DEFAULT_MODEL_DIR, MODEL_DIR_ENV};
use kefu_engine::index::FilterLimits;
use kefu_engine::route::Limits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub use layers::{Cli, ConfigError, Loaded, Source};

/// Widest search beam a call or the config may ask for.
pub const MAX_EF: u32 = 4096;
/// Most threads one encoder pass may use (past the cores, its helpers only wait their turn).
pub const MAX_ENCODER_THREADS: usize = 64;
/// Most encoder workers (each a thread owning one pass at a time).
pub const MAX_ENCODER_WORKERS: usize = 64;

/// Every setting the server runs with.
#[derive(clap::Args, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Index root (serves the version its `current` file names) or one version directory.
    #[arg(long, env = "KEFU_INDEX", default_value = "", hide_default_value = true, value_parser = any_path)]
    pub index: PathBuf,
    /// gRPC listen address.
    #[arg(long, env = "KEFU_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// HTTP address for the REST/JSON API (/v1/…, /openapi.json) and /metrics, /healthz, /readyz.
    #[arg(long, env = "KEFU_METRICS", default_value = "127.0.0.1:9464")]
    #[serde(default)]
    pub metrics: Option<SocketAddr>,
    /// Model folder; must be the model the index was built with.
    #[arg(long, env = MODEL_DIR_ENV, default_value = DEFAULT_MODEL_DIR)]
    pub model: PathBuf,
    /// Encoder forward pass: fast (kefu's own) or candle (the reference); same vectors.
    #[arg(long, env = "KEFU_ENCODER", default_value = "fast")]
    pub encoder: kefu_engine::embed::Backend,
    /// Encoder precision: f32, or int8 (fast encoder only; quantised at load, searches
    /// f32-built indexes of the same model).
    #[arg(long, env = "KEFU_PRECISION", default_value = "f32")]
    pub precision: kefu_engine::embed::Precision,
    /// Threads each encoder worker's pass may use (fast encoder; 1 keeps each worker
    /// on one core, 2 splits a batch by text, or every step of one question's pass).
    #[arg(long, env = "KEFU_ENCODER_THREADS", default_value_t = 1)]
    pub encoder_threads: usize,
    /// Encoder workers taking batches from the one queue side by side, each with
    /// `encoder_threads` threads (workers × threads ≈ cores; docs/performance.md
    /// measures 2 × 1 against 1 × 2).
    #[arg(long, env = "KEFU_ENCODER_WORKERS", default_value_t = 1)]
    pub encoder_workers: usize,
    /// Largest gRPC message or REST request body accepted, in bytes.
    #[arg(long, env = "KEFU_MAX_MESSAGE_BYTES", default_value_t = 4 << 20)]
    pub max_message_bytes: usize,
    /// Longest question accepted, in characters.
    #[arg(long, env = "KEFU_MAX_QUESTION_CHARS", default_value_t = 2000)]
    pub max_question_chars: usize,
    /// Largest k a caller may ask for.
    #[arg(long, env = "KEFU_MAX_K", default_value_t = 100)]
    pub max_k: u32,
    /// k when a call does not say, at most max_k.
    #[arg(long, env = "KEFU_DEFAULT_K", default_value_t = 5)]
    pub default_k: u32,
    /// Most texts in one Embed call, and most questions the encoder batches at once.
    #[arg(long, env = "KEFU_MAX_BATCH", default_value_t = 64)]
    pub max_batch: usize,
    /// Calls served at once; more get RESOURCE_EXHAUSTED.
    #[arg(long, env = "KEFU_MAX_CONCURRENT", default_value_t = 1024)]
    pub max_concurrent: usize,
    /// Questions waiting for the encoder; more get RESOURCE_EXHAUSTED.
    #[arg(long, env = "KEFU_ENCODER_QUEUE", default_value_t = 1024)]
    pub encoder_queue: usize,
    /// Refuse a question at once (RESOURCE_EXHAUSTED) when its expected wait for the
    /// encoder (work queued ahead × measured time per question) exceeds this, in ms.
    #[arg(long, env = "KEFU_ENCODER_WAIT_BUDGET_MS", default_value_t = 100)]
    pub encoder_wait_budget_ms: u64,
    /// Embeddings kept in the cache.
    #[arg(long, env = "KEFU_CACHE_ENTRIES", default_value_t = 100_000)]
    pub cache_entries: u64,
    /// Default search beam width, 1 to 4096.
    #[arg(long, env = "KEFU_EF", default_value_t = 64)]
    pub ef: u32,
    /// Answer only at or above this confidence (0..1), overriding every index's calibrated
    /// threshold; a request's `min_confidence` overrides this [default: the index's own].
    #[arg(long, env = "KEFU_ANSWER_THRESHOLD")]
    #[serde(default)]
    pub answer_threshold: Option<f32>,
    /// Poll the index root for a new `current` every N seconds; 0 turns it off.
    #[arg(long, env = "KEFU_WATCH_SECS", default_value_t = 0)]
    pub watch_secs: u64,
    /// Recompute checksums before serving a reloaded version.
    #[arg(long, env = "KEFU_VERIFY_ON_RELOAD", default_value_t = true, action = clap::ArgAction::Set)]
    pub verify_on_reload: bool,
    /// Log format: text or json.
    #[arg(long, env = "KEFU_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Directory of the routing write-ahead log and snapshots.
    #[arg(long, env = "KEFU_ROUTING_DIR", default_value = "data/routing")]
    pub routing_dir: PathBuf,
    /// Fsync the routing log after every N records; 1 = every record.
    #[arg(long, env = "KEFU_ROUTING_FSYNC_EVERY", default_value_t = 1)]
    pub routing_fsync_every: u32,
    /// Open a routing log that has damaged records in the middle by skipping them: the
    /// records they held are lost (a copy of the log is kept beside it). Without it such a
    /// log is refused with the damaged byte offset.
    #[arg(long, env = "KEFU_ROUTING_SALVAGE", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub routing_salvage: bool,
    /// Longest id or label in bytes: agent, ticket and customer ids, languages, channels,
    /// skill names, categories.
    #[arg(long, env = "KEFU_MAX_ID_BYTES", default_value_t = Limits::DEFAULT.max_id_bytes)]
    pub max_id_bytes: usize,
    /// Longest agent name, in characters.
    #[arg(long, env = "KEFU_MAX_NAME_CHARS", default_value_t = Limits::DEFAULT.max_name_chars)]
    pub max_name_chars: usize,
    /// Longest ticket text (Route), in characters.
    #[arg(long, env = "KEFU_MAX_TEXT_CHARS", default_value_t = Limits::DEFAULT.max_text_chars)]
    pub max_text_chars: usize,
    /// Longest agent expertise text, in characters (it is embedded on every UpsertAgent).
    #[arg(long, env = "KEFU_MAX_EXPERTISE_CHARS", default_value_t = Limits::DEFAULT.max_expertise_chars)]
    pub max_expertise_chars: usize,
    /// Most channels, skills, languages or tiers per agent, and skills per ticket (each list).
    #[arg(long, env = "KEFU_MAX_LIST_LEN", default_value_t = Limits::DEFAULT.max_list_len)]
    pub max_list_len: usize,
    /// Most filter values in one Ask, Search or Resolve, over its locales, markets,
    /// categories and filter clauses.
    #[arg(long, env = "KEFU_MAX_FILTER_VALUES", default_value_t = FilterLimits::DEFAULT.max_filter_values)]
    pub max_filter_values: usize,
    /// Longest filter value (a locale, market, category or tag), in bytes.
    #[arg(long, env = "KEFU_MAX_FILTER_VALUE_BYTES", default_value_t = FilterLimits::DEFAULT.max_filter_value_bytes)]
    pub max_filter_value_bytes: usize,
    /// Tickets in one GetQueue page when the call does not say.
    #[arg(long, env = "KEFU_QUEUE_PAGE_SIZE", default_value_t = 100)]
    pub queue_page_size: u32,
    /// Most tickets one GetQueue page may ask for.
    #[arg(long, env = "KEFU_MAX_QUEUE_PAGE", default_value_t = 1000)]
    pub max_queue_page: u32,
    /// Characters of a ticket's text shown in GetQueue; longer texts are cut and marked.
    #[arg(long, env = "KEFU_QUEUE_TEXT_CHARS", default_value_t = 280)]
    pub queue_text_chars: usize,
    /// TOML file of API keys (`[[key]]` name, role, agents, sha256 of the secret); with any
    /// key set, every call needs `authorization: Bearer <key>` (none: no key checks, loopback only).
    #[arg(long, env = "KEFU_API_KEYS_FILE")]
    #[serde(default)]
    pub api_keys: Option<PathBuf>,
    /// One API key as NAME:ROLE:SHA256[:AGENT,AGENT…] (role answers, desk or admin);
    /// repeatable, `;`-separated in KEFU_API_KEYS. Adds to --api-keys.
    #[arg(long = "api-key", env = "KEFU_API_KEYS", value_delimiter = ';')]
    #[serde(default)]
    pub api_key: Vec<String>,
    /// PEM certificate chain: serve gRPC over TLS (with --tls-key).
    #[arg(long, env = "KEFU_TLS_CERT")]
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "KEFU_TLS_KEY")]
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// PEM CA certificate(s): gRPC clients must present a certificate it signed (mTLS).
    #[arg(long, env = "KEFU_TLS_CLIENT_CA")]
    #[serde(default)]
    pub tls_client_ca: Option<PathBuf>,
    /// Start even when a listener off loopback lacks TLS or API keys (or HTTP is off
    /// loopback at all), with a warning in the log.
    #[arg(long, env = "KEFU_INSECURE", default_value_t = false, action = clap::ArgAction::Set,
          num_args = 0..=1, default_missing_value = "true")]
    pub insecure: bool,
    /// Routing is served by the replica at this address (host:port): this one opens no
    /// routing log, answers Routing calls FAILED_PRECONDITION naming it, and files
    /// Resolve handoffs there (unset: routing is served here).
    #[arg(long, env = "KEFU_ROUTER")]
    #[serde(default)]
    pub router: Option<String>,
}

/// A path, where empty means "not given" (clap's own path parser refuses the empty default).
fn any_path(s: &str) -> Result<PathBuf, std::convert::Infallible> {
    Ok(PathBuf::from(s))
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl Config {
    /// A config for tests and embedding: the defaults (no flags, no environment), with the
    /// given index and model.
    pub fn new(index: &Path, model: &Path) -> Self {
        let mut c = layers::defaults();
        c.index = index.to_path_buf();
        c.model = model.to_path_buf();
        c
    }

    /// The routing bounds the router's request checks use, from the settings of the same names.
    pub fn route_limits(&self) -> Limits {
        Limits {
            max_id_bytes: self.max_id_bytes,
            max_name_chars: self.max_name_chars,
            max_text_chars: self.max_text_chars,
            max_expertise_chars: self.max_expertise_chars,
            max_list_len: self.max_list_len,
        }
    }

    /// The filter bounds Ask, Search and Resolve check, from the settings of the same names.
    pub fn filter_limits(&self) -> FilterLimits {
        FilterLimits {
            max_filter_values: self.max_filter_values,
            max_filter_value_bytes: self.max_filter_value_bytes,
        }
    }

    /// Checks the merged values once, so a bad setting fails at start, not on every call.
    /// `source` says where a setting's value came from, for the message.
    pub fn validate(&self, source: &dyn Fn(&'static str) -> Source) -> Result<(), ConfigError> {
        let bad = |setting: &'static str, value: String, rule: String| ConfigError::Invalid {
            setting,
            value,
            from: source(setting),
            rule,
        };
        if self.index.as_os_str().is_empty() {
            return Err(ConfigError::NoIndex);
        }
        for (name, v) in [
            ("max_message_bytes", self.max_message_bytes),
            ("max_question_chars", self.max_question_chars),
            ("max_k", self.max_k as usize),
            ("default_k", self.default_k as usize),
            ("max_batch", self.max_batch),
            ("max_concurrent", self.max_concurrent),
            ("encoder_queue", self.encoder_queue),
            ("encoder_threads", self.encoder_threads),
            ("encoder_workers", self.encoder_workers),
            ("encoder_wait_budget_ms", self.encoder_wait_budget_ms as usize),
            ("ef", self.ef as usize),
            ("routing_fsync_every", self.routing_fsync_every as usize),
            ("max_id_bytes", self.max_id_bytes),
            ("max_name_chars", self.max_name_chars),
            ("max_text_chars", self.max_text_chars),
            ("max_expertise_chars", self.max_expertise_chars),
            ("max_list_len", self.max_list_len),
            ("max_filter_values", self.max_filter_values),
            ("max_filter_value_bytes", self.max_filter_value_bytes),
            ("queue_page_size", self.queue_page_size as usize),
            ("max_queue_page", self.max_queue_page as usize),
            ("queue_text_chars", self.queue_text_chars),
        ] {
            if v == 0 {
                return Err(bad(name, "0".into(), "must be at least 1".into()));
            }
        }
        if self.ef > MAX_EF {
            return Err(bad(
                "ef",
                self.ef.to_string(),
                format!("must be between 1 and {MAX_EF}"),
            ));
        }
        if self.encoder_threads > MAX_ENCODER_THREADS {
            return Err(bad(
                "encoder_threads",
                self.encoder_threads.to_string(),
                format!("must be between 1 and {MAX_ENCODER_THREADS}"),
            ));
        }
        if self.encoder_workers > MAX_ENCODER_WORKERS {
            return Err(bad(
                "encoder_workers",
                self.encoder_workers.to_string(),
                format!("must be between 1 and {MAX_ENCODER_WORKERS}"),
            ));
        }
        if self.default_k > self.max_k {
            return Err(bad(
                "default_k",
                self.default_k.to_string(),
                format!("must be at most max_k ({})", self.max_k),
            ));
        }
        if self.queue_page_size > self.max_queue_page {
            return Err(bad(
                "queue_page_size",
                self.queue_page_size.to_string(),
                format!("must be at most max_queue_page ({})", self.max_queue_page),
            ));
        }
        for (name, set, needs, other) in [
            (
                "tls_cert",
                self.tls_cert.is_some(),
                "tls_key",
                self.tls_key.is_some(),
            ),
            (
                "tls_key",
                self.tls_key.is_some(),
                "tls_cert",
                self.tls_cert.is_some(),
            ),
            (
                "tls_client_ca",
                self.tls_client_ca.is_some(),
                "tls_cert",
                self.tls_cert.is_some(),
            ),
        ] {
            if set && !other {
                return Err(bad(name, "set".into(), format!("needs {needs}")));
            }
        }
        if let Some(t) = self.answer_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(bad(
                "answer_threshold",
                t.to_string(),
                "must be between 0 and 1".into(),
            ));
        }
        if let Some(r) = &self.router
            && r.rsplit_once(':')
                .is_none_or(|(host, port)| host.is_empty() || port.parse::<u16>().is_err())
        {
            return Err(bad(
                "router",
                r.clone(),
                "must be host:port of the replica that owns the routing log".into(),
            ));
        }
        Ok(())
    }
}

//! Server configuration: clap flags win over `KEFU_*` environment variables,
//! which win over the TOML file named by `--config`, which wins over defaults.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// `kefu-server` command line. Every flag also reads a `KEFU_*` variable.
#[derive(clap::Parser, Debug, Default, Clone)]
#[command(
    name = "kefu-server",
    version,
    about = "kefu gRPC server: answer lookup over a memory-mapped index"
)]
pub struct Args {
    /// TOML file with any of the settings below (flags and environment win over it).
    #[arg(long, env = "KEFU_CONFIG")]
    pub config: Option<PathBuf>,
    /// Index root (serves the version its `current` file names) or one version directory.
    #[arg(long, env = "KEFU_INDEX")]
    pub index: Option<PathBuf>,
    /// gRPC listen address [default: 127.0.0.1:50051].
    #[arg(long, env = "KEFU_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// HTTP address for the REST/JSON API (/v1/…, /openapi.json) and /metrics, /healthz,
    /// /readyz [default: 127.0.0.1:9464].
    #[arg(long, env = "KEFU_METRICS")]
    pub metrics: Option<SocketAddr>,
    /// Model folder; must be the model the index was built with [default: models/all-MiniLM-L6-v2].
    #[arg(long, env = "KEFU_MODEL_DIR")]
    pub model: Option<PathBuf>,
    /// Encoder forward pass: fast (kefu's own) or candle (the reference); same vectors [default: fast].
    #[arg(long, env = "KEFU_ENCODER")]
    pub encoder: Option<kefu_engine::embed::Backend>,
    /// Largest gRPC message or REST request body accepted, in bytes [default: 4194304].
    #[arg(long, env = "KEFU_MAX_MESSAGE_BYTES")]
    pub max_message_bytes: Option<usize>,
    /// Longest question accepted, in characters [default: 2000].
    #[arg(long, env = "KEFU_MAX_QUESTION_CHARS")]
    pub max_question_chars: Option<usize>,
    /// Largest k a caller may ask for [default: 100].
    #[arg(long, env = "KEFU_MAX_K")]
    pub max_k: Option<u32>,
    /// Most texts in one Embed call, and most questions the encoder batches at once [default: 64].
    #[arg(long, env = "KEFU_MAX_BATCH")]
    pub max_batch: Option<usize>,
    /// Calls served at once; more get RESOURCE_EXHAUSTED [default: 1024].
    #[arg(long, env = "KEFU_MAX_CONCURRENT")]
    pub max_concurrent: Option<usize>,
    /// Questions waiting for the encoder; more get RESOURCE_EXHAUSTED [default: 1024].
    #[arg(long, env = "KEFU_ENCODER_QUEUE")]
    pub encoder_queue: Option<usize>,
    /// Embeddings kept in the cache [default: 100000].
    #[arg(long, env = "KEFU_CACHE_ENTRIES")]
    pub cache_entries: Option<u64>,
    /// Default search beam width, 1 to 4096 [default: 64].
    #[arg(long, env = "KEFU_EF")]
    pub ef: Option<u32>,
    /// Answer only at or above this confidence (0..1), overriding every index's calibrated
    /// threshold; a request's `min_confidence` overrides this [default: the index's own].
    #[arg(long, env = "KEFU_ANSWER_THRESHOLD")]
    pub answer_threshold: Option<f32>,
    /// Poll the index root for a new `current` every N seconds; 0 turns it off [default: 0].
    #[arg(long, env = "KEFU_WATCH_SECS")]
    pub watch_secs: Option<u64>,
    /// Recompute checksums before serving a reloaded version [default: true].
    #[arg(long, env = "KEFU_VERIFY_ON_RELOAD")]
    pub verify_on_reload: Option<bool>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "KEFU_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Directory of the routing write-ahead log and snapshots [default: data/routing].
    #[arg(long, env = "KEFU_ROUTING_DIR")]
    pub routing_dir: Option<PathBuf>,
    /// Fsync the routing log after every N records; 1 = every record [default: 1].
    #[arg(long, env = "KEFU_ROUTING_FSYNC_EVERY")]
    pub routing_fsync_every: Option<u32>,
    /// Open a routing log that has damaged records in the middle by skipping them: the
    /// records they held are lost (a copy of the log is kept beside it). Without it such a
    /// log is refused with the damaged byte offset [default: false].
    #[arg(long, env = "KEFU_ROUTING_SALVAGE", num_args = 0..=1, default_missing_value = "true")]
    pub routing_salvage: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// The TOML file: the same settings as the flags, with `_` in names.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    index: Option<PathBuf>,
    listen: Option<SocketAddr>,
    metrics: Option<SocketAddr>,
    model: Option<PathBuf>,
    encoder: Option<kefu_engine::embed::Backend>,
    max_message_bytes: Option<usize>,
    max_question_chars: Option<usize>,
    max_k: Option<u32>,
    max_batch: Option<usize>,
    max_concurrent: Option<usize>,
    encoder_queue: Option<usize>,
    cache_entries: Option<u64>,
    ef: Option<u32>,
    answer_threshold: Option<f32>,
    watch_secs: Option<u64>,
    verify_on_reload: Option<bool>,
    log_format: Option<LogFormat>,
    routing_dir: Option<PathBuf>,
    routing_fsync_every: Option<u32>,
    routing_salvage: Option<bool>,
}

/// Widest search beam a call or the config may ask for.
pub const MAX_EF: u32 = 4096;

/// Resolved settings the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub index: PathBuf,
    pub listen: SocketAddr,
    /// None turns the HTTP endpoint, and with it the REST API, off (tests).
    pub metrics: Option<SocketAddr>,
    pub model: PathBuf,
    pub encoder: kefu_engine::embed::Backend,
    pub max_message_bytes: usize,
    pub max_question_chars: usize,
    pub max_k: u32,
    pub default_k: u32,
    pub max_batch: usize,
    pub max_concurrent: usize,
    pub encoder_queue: usize,
    pub cache_entries: u64,
    pub ef: u32,
    /// Overrides the calibrated answer threshold of every index when set.
    pub answer_threshold: Option<f32>,
    pub watch_secs: u64,
    pub verify_on_reload: bool,
    pub log_format: LogFormat,
    pub routing_dir: PathBuf,
    pub routing_fsync_every: u32,
    pub routing_salvage: bool,
}

/// A configuration that cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("no index given: pass --index DIR, set KEFU_INDEX, or put `index = \"DIR\"` in the config file")]
    NoIndex,
    #[error("{name} must be at least 1")]
    Zero { name: &'static str },
    #[error("{name} is {value}; it must be {range}")]
    OutOfRange {
        name: &'static str,
        value: String,
        range: &'static str,
    },
}

impl Config {
    /// A config for tests and embedding: defaults, with the given index and model.
    pub fn new(index: &Path, model: &Path) -> Self {
        Self::resolve(
            Args {
                index: Some(index.to_path_buf()),
                model: Some(model.to_path_buf()),
                ..Default::default()
            },
            FileConfig::default(),
        )
        .expect("defaults are valid")
    }

    /// Merges flags/env (already merged by clap), the config file and defaults.
    pub fn load(args: Args) -> Result<Self, ConfigError> {
        let file = match &args.config {
            None => FileConfig::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
                    path: path.clone(),
                    source: e,
                })?;
                toml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
        };
        Self::resolve(args, file)
    }

    fn resolve(a: Args, f: FileConfig) -> Result<Self, ConfigError> {
        let c = Self {
            index: a.index.or(f.index).ok_or(ConfigError::NoIndex)?,
            listen: a.listen.or(f.listen).unwrap_or(([127, 0, 0, 1], 50051).into()),
            metrics: Some(a.metrics.or(f.metrics).unwrap_or(([127, 0, 0, 1], 9464).into())),
            model: a
                .model
                .or(f.model)
                .unwrap_or_else(|| PathBuf::from(kefu_engine::embed::DEFAULT_MODEL_DIR)),
            encoder: a.encoder.or(f.encoder).unwrap_or_default(),
            max_message_bytes: a.max_message_bytes.or(f.max_message_bytes).unwrap_or(4 << 20),
            max_question_chars: a.max_question_chars.or(f.max_question_chars).unwrap_or(2000),
            max_k: a.max_k.or(f.max_k).unwrap_or(100),
            default_k: 5,
            max_batch: a.max_batch.or(f.max_batch).unwrap_or(64),
            max_concurrent: a.max_concurrent.or(f.max_concurrent).unwrap_or(1024),
            encoder_queue: a.encoder_queue.or(f.encoder_queue).unwrap_or(1024),
            cache_entries: a.cache_entries.or(f.cache_entries).unwrap_or(100_000),
            ef: a.ef.or(f.ef).unwrap_or(64),
            answer_threshold: a.answer_threshold.or(f.answer_threshold),
            watch_secs: a.watch_secs.or(f.watch_secs).unwrap_or(0),
            verify_on_reload: a.verify_on_reload.or(f.verify_on_reload).unwrap_or(true),
            log_format: a.log_format.or(f.log_format).unwrap_or_default(),
            routing_dir: a
                .routing_dir
                .or(f.routing_dir)
                .unwrap_or_else(|| PathBuf::from("data/routing")),
            routing_fsync_every: a.routing_fsync_every.or(f.routing_fsync_every).unwrap_or(1),
            routing_salvage: a.routing_salvage.or(f.routing_salvage).unwrap_or(false),
        };
        for (name, v) in [
            ("max_question_chars", c.max_question_chars),
            ("max_k", c.max_k as usize),
            ("max_batch", c.max_batch),
            ("max_concurrent", c.max_concurrent),
            ("encoder_queue", c.encoder_queue),
            ("ef", c.ef as usize),
            ("max_message_bytes", c.max_message_bytes),
            ("routing_fsync_every", c.routing_fsync_every as usize),
        ] {
            if v == 0 {
                return Err(ConfigError::Zero { name });
            }
        }
        // Checked here once, so a bad setting fails at start, not on every call.
        if c.ef > MAX_EF {
            return Err(ConfigError::OutOfRange {
                name: "ef",
                value: c.ef.to_string(),
                range: "between 1 and 4096",
            });
        }
        if let Some(t) = c.answer_threshold
            && !(0.0..=1.0).contains(&t)
        {
            return Err(ConfigError::OutOfRange {
                name: "answer_threshold",
                value: t.to_string(),
                range: "between 0 and 1",
            });
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn flags_win_over_file_and_file_over_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kefu.toml");
        std::fs::write(
            &path,
            "index = \"/from/file\"\nmax_k = 7\nlisten = \"127.0.0.1:6000\"\n",
        )
        .unwrap();
        let args = Args::parse_from(["kefu-server", "--config", path.to_str().unwrap(), "--max-k", "9"]);
        let c = Config::load(args).unwrap();
        assert_eq!(c.max_k, 9);
        assert_eq!(c.index, PathBuf::from("/from/file"));
        assert_eq!(c.listen, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(c.max_batch, 64);
    }

    #[test]
    fn routing_salvage_is_off_unless_asked_for_by_flag_or_file() {
        let c = Config::load(Args::parse_from(["kefu-server", "--index", "/x"])).unwrap();
        assert!(!c.routing_salvage);
        let c = Config::load(Args::parse_from([
            "kefu-server",
            "--index",
            "/x",
            "--routing-salvage",
        ]))
        .unwrap();
        assert!(c.routing_salvage);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kefu.toml");
        std::fs::write(&path, "index = \"/x\"\nrouting_salvage = true\n").unwrap();
        let args = Args::parse_from(["kefu-server", "--config", path.to_str().unwrap()]);
        assert!(Config::load(args).unwrap().routing_salvage);
        let args = Args::parse_from([
            "kefu-server",
            "--config",
            path.to_str().unwrap(),
            "--routing-salvage=false",
        ]);
        assert!(
            !Config::load(args).unwrap().routing_salvage,
            "the flag wins over the file"
        );
    }

    #[test]
    fn zero_limits_are_rejected_by_name() {
        let args = Args::parse_from(["kefu-server", "--index", "/x", "--max-k", "0"]);
        let err = Config::load(args).unwrap_err();
        assert_eq!(err.to_string(), "max_k must be at least 1");
    }

    #[test]
    fn unknown_keys_and_missing_index_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kefu.toml");
        std::fs::write(&path, "indx = \"/typo\"\n").unwrap();
        let err = Config::load(Args::parse_from([
            "kefu-server",
            "--config",
            path.to_str().unwrap(),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("indx"), "{err}");
        let err = Config::load(Args::parse_from(["kefu-server"])).unwrap_err();
        assert!(matches!(err, ConfigError::NoIndex));
    }
}

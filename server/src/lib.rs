//! kefu-server: adapts gRPC to kefu-engine calls. Read it in the order a call meets it:
//! 1. [`config`] — flags, `KEFU_*` environment, TOML file
//! 2. [`serve`] — listeners, health, reflection, signals, graceful shutdown
//! 3. [`answers`] / [`resolve`] / [`admin`] / [`routing`] — one handler per RPC: convert, call the engine, convert back
//! 4. [`state`] — the served index (swapped, never mutated), embedding cache, limits
//! 5. [`batcher`] — the encoder worker with continuous batching and a bounded queue
//! 6. [`metrics`] / [`http`] — Prometheus metrics, /metrics, /healthz, /readyz

pub mod admin;
pub mod answers;
pub mod batcher;
pub mod config;
pub mod http;
pub mod metrics;
pub mod resolve;
pub mod routing;
pub mod serve;
pub mod state;

/// Generated from `proto/kefu/v1/*.proto`.
pub mod proto {
    #![allow(clippy::all)]
    tonic::include_proto!("kefu.v1");
    /// Every kefu.v1 descriptor, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("kefu_descriptor");
}

pub use config::Config;
pub use serve::{Running, run_until_signal, start};

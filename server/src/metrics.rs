//! Prometheus metrics, and the HTTP endpoint that serves them with /healthz and /readyz.

use crate::batcher::Lane;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// A finished call: which RPC, how it ended, and over which face (`grpc` or `http`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub service: String,
    pub method: String,
    /// The canonical gRPC code name: `OK`, `INVALID_ARGUMENT`, …
    pub code: String,
    pub transport: String,
}

/// The RPC a latency sample belongs to.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub service: String,
    pub method: String,
}

/// A reload attempt: what triggered it and whether it was served.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    pub rpc: String,
    pub code: String,
}

/// The encoder queue's lane a sample belongs to: `interactive` or `bulk`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabel {
    pub lane: &'static str,
}

impl From<Lane> for LaneLabel {
    fn from(lane: Lane) -> Self {
        Self { lane: lane.name() }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabel {
    pub version: String,
}

/// Every metric the server exports.
pub struct Metrics {
    pub registry: Registry,
    pub requests: Family<CallLabels, Counter>,
    pub request_seconds: Family<MethodLabels, Histogram>,
    pub search_seconds: Histogram,
    pub embed_seconds: Histogram,
    pub encoder_queue_depth: Gauge,
    pub encoder_batch_size: Family<LaneLabel, Histogram>,
    pub encoder_queue_wait_seconds: Family<LaneLabel, Histogram>,
    pub encoder_pass_seconds: Family<LaneLabel, Histogram>,
    pub encoder_dropped: Counter,
    pub cache_hits: Counter,
    pub cache_misses: Counter,
    pub index_info: Family<VersionLabel, Gauge>,
    pub index_vectors: Gauge<i64, std::sync::atomic::AtomicI64>,
    pub reloads: Family<RpcLabels, Counter<u64, AtomicU64>>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("kefu");
        let requests = Family::<CallLabels, Counter>::default();
        registry.register(
            "requests",
            "calls by service, method, status code and transport (grpc or http), whatever their outcome",
            requests.clone(),
        );
        let request_seconds = Family::<MethodLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00005, 2.0, 18))
        });
        registry.register(
            "request_duration_seconds",
            "call latency by service and method, until the reply's last byte",
            request_seconds.clone(),
        );
        let search_seconds = Histogram::new(exponential_buckets(0.00001, 2.0, 16));
        registry.register(
            "search_duration_seconds",
            "index search latency",
            search_seconds.clone(),
        );
        let embed_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "embed_duration_seconds",
            "time to get a question's embedding (cache or encoder)",
            embed_seconds.clone(),
        );
        let encoder_queue_depth = Gauge::default();
        registry.register(
            "encoder_queue_depth",
            "questions waiting for or in the encoder",
            encoder_queue_depth.clone(),
        );
        let encoder_batch_size = Family::<LaneLabel, Histogram>::new_with_constructor(|| {
            Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0])
        });
        registry.register(
            "encoder_batch_size",
            "texts embedded per encoder pass, by lane (interactive or bulk)",
            encoder_batch_size.clone(),
        );
        let encoder_queue_wait_seconds = Family::<LaneLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.00005, 2.0, 18))
        });
        registry.register(
            "encoder_queue_wait_seconds",
            "time each text waited from entering the encoder queue to the start of its pass, by lane",
            encoder_queue_wait_seconds.clone(),
        );
        let encoder_pass_seconds = Family::<LaneLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0005, 2.0, 14))
        });
        registry.register(
            "encoder_pass_duration_seconds",
            "encoder time per pass (one batch), by lane",
            encoder_pass_seconds.clone(),
        );
        // Both lanes from the start, so a dashboard sees bulk at zero rather than no series.
        for lane in Lane::ALL {
            let lane = LaneLabel::from(lane);
            drop(encoder_batch_size.get_or_create(&lane));
            drop(encoder_queue_wait_seconds.get_or_create(&lane));
            drop(encoder_pass_seconds.get_or_create(&lane));
        }
        let encoder_dropped = Counter::default();
        registry.register(
            "encoder_cancelled",
            "queued questions dropped because the caller gave up",
            encoder_dropped.clone(),
        );
        let cache_hits = Counter::default();
        registry.register(
            "embedding_cache_hits",
            "questions answered from the embedding cache",
            cache_hits.clone(),
        );
        let cache_misses = Counter::default();
        registry.register(
            "embedding_cache_misses",
            "questions that needed the encoder",
            cache_misses.clone(),
        );
        let index_info = Family::<VersionLabel, Gauge>::default();
        registry.register(
            "index_info",
            "1 for the index version being served",
            index_info.clone(),
        );
        let index_vectors = Gauge::default();
        registry.register(
            "index_vectors",
            "vectors in the served index",
            index_vectors.clone(),
        );
        let reloads = Family::<RpcLabels, Counter>::default();
        registry.register(
            "index_reloads",
            "index reload attempts by trigger and outcome",
            reloads.clone(),
        );
        Self {
            registry,
            requests,
            request_seconds,
            search_seconds,
            embed_seconds,
            encoder_queue_depth,
            encoder_batch_size,
            encoder_queue_wait_seconds,
            encoder_pass_seconds,
            encoder_dropped,
            cache_hits,
            cache_misses,
            index_info,
            index_vectors,
            reloads,
        }
    }

    /// Counts one finished call; `code` is the canonical gRPC name.
    pub fn observe(&self, service: &str, method: &str, code: &str, transport: &str, seconds: f64) {
        self.requests
            .get_or_create(&CallLabels {
                service: service.to_string(),
                method: method.to_string(),
                code: code.to_string(),
                transport: transport.to_string(),
            })
            .inc();
        self.request_seconds
            .get_or_create(&MethodLabels {
                service: service.to_string(),
                method: method.to_string(),
            })
            .observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

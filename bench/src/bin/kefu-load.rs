//! `kefu-load`: a bounded gRPC load generator for kefu-server's Ask (and, mixed in,
//! Routing/Route).
//!
//! N concurrent callers send questions for at most `--duration` seconds or
//! `--requests` calls, whichever comes first, to a loopback server (or a loopback
//! load balancer in front of several); it prints
//! throughput, latency percentiles (HdrHistogram), outcomes by status code and
//! the time to the first error. Callers share `--connections` HTTP/2
//! connections (a server takes a bounded number of streams per connection), and
//! `--deadline-ms` gives each call a gRPC deadline.

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::routing_client::RoutingClient;
use kefu_server::proto::{AskRequest, RouteRequest};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// Load generator for kefu-server (Ask RPC).
#[derive(Parser, Debug)]
#[command(name = "kefu-load", version)]
struct Args {
    /// Server address; loopback only.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// Concurrent callers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Stop after this many calls in total.
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Make every question unique (defeats the embedding cache: measures the encoder path).
    #[arg(long)]
    unique: bool,
    /// Questions, one per line (default: built-in customer questions).
    #[arg(long)]
    questions: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 5)]
    k: u32,
    /// Per-call deadline in ms, sent as `grpc-timeout` (default: none).
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// HTTP/2 connections the callers share [default: one per 100 callers].
    #[arg(long)]
    connections: Option<usize>,
    /// After a failed call, a caller waits this many ms before its next one (0: retry at once,
    /// a retry storm that competes with the server for CPU).
    #[arg(long, default_value_t = 0)]
    backoff_ms: u64,
    /// Also print one Markdown table row: callers, deadline, calls, OK, p50, p99, first error, errors.
    #[arg(long)]
    markdown_row: bool,
    /// Make every Nth call a Routing/Route filing a new ticket (0: Ask only). Through a
    /// load balancer these reach the router replica; they grow its queue and log.
    #[arg(long, default_value_t = 0)]
    route_every: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    let host = a.addr.rsplit_once(':').map(|(h, _)| h).unwrap_or(&a.addr);
    if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") && !host.starts_with("127.") {
        bail!("kefu-load only targets loopback addresses, not {host}");
    }
    let questions: Vec<String> = match &a.questions {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("read {}", p.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
        None => kefu_bench::QUESTIONS.iter().map(|s| s.to_string()).collect(),
    };
    if questions.is_empty() {
        bail!("no questions to send");
    }
    let mut clients = Vec::new();
    for _ in 0..a.connections.unwrap_or(a.concurrency.div_ceil(100)).max(1) {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", a.addr))?
            .connect()
            .await
            .with_context(|| format!("connect to {}", a.addr))?;
        clients.push((AnswersClient::new(channel.clone()), RoutingClient::new(channel)));
    }
    // Ticket ids unique across runs against one routing log.
    let run = format!(
        "load-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis()
    );
    // Ctrl-C / SIGINT ends the run early and still reports (scripts stop it when their
    // own step is done, e.g. a rolling reload).
    let stopped = Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let stopped = stopped.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stopped.store(true, Ordering::Relaxed);
            }
        });
    }
    // Microseconds from the start to the first failed call; u64::MAX while none failed.
    let first_error = Arc::new(AtomicU64::new(u64::MAX));
    let sent = Arc::new(AtomicU64::new(0));
    let hits = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let codes = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let deadline = Instant::now() + Duration::from_secs(a.duration);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..a.concurrency {
        let (mut routing, run, stopped) =
            (clients[w % clients.len()].1.clone(), run.clone(), stopped.clone());
        let (mut c, sent, hits, hist, codes, qs, first_error) = (
            clients[w % clients.len()].0.clone(),
            sent.clone(),
            hits.clone(),
            hist.clone(),
            codes.clone(),
            questions.clone(),
            first_error.clone(),
        );
        let (limit, unique, k, deadline_ms, backoff, route_every) = (
            a.requests,
            a.unique,
            a.k,
            a.deadline_ms,
            Duration::from_millis(a.backoff_ms),
            a.route_every,
        );
        workers.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).expect("histogram");
            let mut local_codes = BTreeMap::<String, u64>::new();
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if n >= limit || Instant::now() >= deadline || stopped.load(Ordering::Relaxed) {
                    break;
                }
                let base = &qs[(n as usize + w) % qs.len()];
                let question = if unique {
                    // The process id too: a second run must not hit the first run's cache.
                    format!("{base} (#{}-{n})", std::process::id())
                } else {
                    base.clone()
                };
                let t = Instant::now();
                // Ask outcomes are counted by code ("OK", "Unavailable", …); Route ones
                // with a "Route " prefix.
                let outcome = if route_every > 0 && n % route_every == 0 {
                    let mut request = tonic::Request::new(RouteRequest {
                        ticket_id: format!("{run}-{n}"),
                        customer_id: format!("{run}-c{n}"),
                        language: "en".into(),
                        channel: "chat".into(),
                        text: question,
                        ..Default::default()
                    });
                    if let Some(ms) = deadline_ms {
                        request.set_timeout(Duration::from_millis(ms));
                    }
                    match routing.route(request).await {
                        Ok(_) => Ok("Route OK".to_string()),
                        Err(s) => Err(format!("Route {:?}", s.code())),
                    }
                } else {
                    let mut request = tonic::Request::new(AskRequest {
                        question,
                        k: Some(k),
                        ..Default::default()
                    });
                    if let Some(ms) = deadline_ms {
                        request.set_timeout(Duration::from_millis(ms));
                    }
                    match c.ask(request).await {
                        Ok(resp) => {
                            if resp.into_inner().timings.is_some_and(|t| t.cache_hit) {
                                hits.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok("OK".to_string())
                        }
                        Err(s) => Err(format!("{:?}", s.code())),
                    }
                };
                let _ = local.record(t.elapsed().as_micros() as u64);
                let failed = outcome.is_err();
                if failed {
                    first_error.fetch_min(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                }
                let code = outcome.unwrap_or_else(|e| e);
                if failed && !backoff.is_zero() {
                    tokio::time::sleep(backoff).await;
                }
                *local_codes.entry(code).or_default() += 1;
            }
            hist.lock().await.add(&local).expect("same bounds");
            let mut all = codes.lock().await;
            for (k, v) in local_codes {
                *all.entry(k).or_default() += v;
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let secs = started.elapsed().as_secs_f64();
    let h = hist.lock().await;
    let total = h.len();
    println!(
        "{total} calls in {secs:.1} s with {} callers: {:.0} calls/s",
        a.concurrency,
        total as f64 / secs
    );
    println!(
        "latency µs: p50 {} p90 {} p99 {} max {}",
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.max()
    );
    println!("cache hits: {}", hits.load(Ordering::Relaxed));
    let first = match first_error.load(Ordering::Relaxed) {
        u64::MAX => "none".to_string(),
        us => format!("{:.1} ms", us as f64 / 1e3),
    };
    println!("first error after: {first}");
    let codes = codes.lock().await;
    for (code, n) in codes.iter() {
        println!("{code}: {n}");
    }
    let failed: u64 = codes
        .iter()
        .filter(|(c, _)| !c.ends_with("OK"))
        .map(|(_, n)| n)
        .sum();
    println!(
        "summary calls={total} failed={failed} p99_us={}",
        h.value_at_quantile(0.99)
    );
    if a.markdown_row {
        let errors: Vec<String> = codes
            .iter()
            .filter(|(c, _)| !c.ends_with("OK"))
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        println!(
            "| {} | {} | {total} | {} | {:.1} ms | {:.1} ms | {first} | {} |",
            a.concurrency,
            a.deadline_ms.map_or("none".to_string(), |d| format!("{d} ms")),
            codes.get("OK").copied().unwrap_or(0),
            h.value_at_quantile(0.5) as f64 / 1e3,
            h.value_at_quantile(0.99) as f64 / 1e3,
            if errors.is_empty() {
                "none".to_string()
            } else {
                errors.join(", ")
            },
        );
    }
    Ok(())
}

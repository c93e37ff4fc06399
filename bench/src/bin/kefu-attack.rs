//! `kefu-attack`: replays the hostile-traffic findings against a loopback server and
//! prints what they cost, so a fix comes with before/after figures.
//!
//! - `filters`: many Asks with distinct filter sets; the server's resident memory
//!   (read from /proc, the server runs on this machine) before and after.
//! - `embed-ask`: maximal Embed calls (most texts of most characters) run while a
//!   caller sends Asks one after another; Ask latency percentiles and Embed times.
//!
//! Every loop is bounded in count and time and only loopback addresses are accepted.

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use kefu_server::proto::answers_client::AnswersClient;
use kefu_server::proto::{AskRequest, EmbedRequest, FilterClause};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// Hostile-traffic replays against a loopback kefu-server.
#[derive(Parser, Debug)]
#[command(name = "kefu-attack", version)]
struct Args {
    /// Server gRPC address; loopback only.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    #[command(subcommand)]
    attack: Attack,
}

#[derive(Subcommand, Debug)]
enum Attack {
    /// Asks with N distinct filter sets; server memory before and after.
    Filters {
        /// Distinct filter sets to send.
        #[arg(long, default_value_t = 10_000)]
        count: u32,
        /// The server's process id (its VmRSS is read from /proc).
        #[arg(long)]
        pid: u32,
    },
    /// Maximal Embed calls in a loop while one caller sends Asks.
    EmbedAsk {
        /// Texts per Embed call (the server's max_batch).
        #[arg(long, default_value_t = 64)]
        texts: usize,
        /// Characters per text (the server's max_question_chars).
        #[arg(long, default_value_t = 2000)]
        chars: usize,
        /// Concurrent Embed callers.
        #[arg(long, default_value_t = 1)]
        embedders: usize,
        /// Asks to send (one at a time) while the Embeds run.
        #[arg(long, default_value_t = 50)]
        asks: u32,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 120)]
        max_secs: u64,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    let host = a.addr.rsplit_once(':').map_or(a.addr.as_str(), |(h, _)| h);
    if !(host == "localhost" || host == "[::1]" || host.starts_with("127.")) {
        bail!("kefu-attack only targets loopback addresses, not {host}");
    }
    let client = AnswersClient::connect(format!("http://{}", a.addr))
        .await
        .context("connect")?
        .max_decoding_message_size(64 << 20)
        .max_encoding_message_size(64 << 20);
    match a.attack {
        Attack::Filters { count, pid } => filters(client, count, pid).await,
        Attack::EmbedAsk {
            texts,
            chars,
            embedders,
            asks,
            max_secs,
        } => embed_ask(client, texts, chars, embedders, asks, max_secs).await,
    }
}

/// Resident memory of a process on this machine, in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("read /proc/{pid}/status (is the server running here?)"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS line")
}

async fn filters(mut c: AnswersClient<Channel>, count: u32, pid: u32) -> Result<()> {
    // Warm up: the first Ask loads the model path and caches the question's vector.
    let ask = |i: u32| AskRequest {
        question: "How long does shipping take?".into(),
        k: Some(3),
        filters: vec![FilterClause {
            field: "tag".into(),
            values: vec![format!("attack-{i}"), "shipping".into()],
        }],
        ..Default::default()
    };
    c.ask(ask(u32::MAX)).await.context("warm-up Ask")?;
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let mut codes = std::collections::BTreeMap::<String, u32>::new();
    for i in 0..count {
        let code = match c.ask(ask(i)).await {
            Ok(_) => "OK".to_string(),
            Err(s) => format!("{:?}", s.code()),
        };
        *codes.entry(code).or_default() += 1;
    }
    let after = rss_kib(pid)?;
    println!(
        "{count} Asks with distinct filter sets in {:.1} s: server RSS {:.1} MiB -> {:.1} MiB ({:+.1} MiB)",
        started.elapsed().as_secs_f64(),
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        (after as f64 - before as f64) / 1024.0
    );
    println!("outcomes: {codes:?}");
    Ok(())
}

async fn embed_ask(
    c: AnswersClient<Channel>,
    texts: usize,
    chars: usize,
    embedders: usize,
    asks: u32,
    max_secs: u64,
) -> Result<()> {
    let give_up = Instant::now() + Duration::from_secs(max_secs);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let word = "container ";
    let text: String = word.repeat(chars / word.len() + 1).chars().take(chars).collect();
    let mut tasks = Vec::new();
    for e in 0..embedders {
        let (mut c, stop) = (c.clone(), stop.clone());
        // Each text exactly `chars` long, distinct so none is served from the cache.
        let batch: Vec<String> = (0..texts)
            .map(|i| {
                let tag = format!("{e}-{i} ");
                format!("{tag}{}", &text[..chars.saturating_sub(tag.len())])
            })
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < give_up {
                let t = Instant::now();
                let r = c.embed(EmbedRequest { texts: batch.clone() }).await;
                took.push((t.elapsed(), r.err().map(|s| format!("{:?}", s.code()))));
            }
            took
        }));
    }
    // Let the first Embed reach the encoder before the Asks start.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut hist = Histogram::<u64>::new(3)?;
    let mut failed = 0u32;
    let mut ac = c.clone();
    for i in 0..asks {
        if Instant::now() >= give_up {
            break;
        }
        let t = Instant::now();
        let r = ac
            .ask(AskRequest {
                question: format!("How long does shipping to Lyon take? ({i})"),
                k: Some(3),
                ..Default::default()
            })
            .await;
        hist.record(t.elapsed().as_micros() as u64)?;
        if r.is_err() {
            failed += 1;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut embeds = Vec::new();
    for t in tasks {
        embeds.extend(t.await?);
    }
    println!(
        "{} Asks during maximal Embeds ({embedders} caller(s), {texts} texts x {chars} chars): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {failed} failed",
        hist.len(),
        hist.value_at_quantile(0.5) as f64 / 1000.0,
        hist.value_at_quantile(0.99) as f64 / 1000.0,
        hist.max() as f64 / 1000.0
    );
    let ok: Vec<f64> = embeds
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(d, _)| d.as_secs_f64())
        .collect();
    let errs: Vec<&String> = embeds.iter().filter_map(|(_, e)| e.as_ref()).collect();
    println!(
        "Embed calls: {} ok (mean {:.2} s, max {:.2} s), {} refused {:?}",
        ok.len(),
        ok.iter().sum::<f64>() / ok.len().max(1) as f64,
        ok.iter().cloned().fold(0.0, f64::max),
        errs.len(),
        errs.iter().take(3).collect::<Vec<_>>()
    );
    Ok(())
}

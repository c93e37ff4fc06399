//! `kefu-load`: a bounded gRPC load generator for kefu-server's Ask (and, mixed in,
//! Routing/Route), loopback only. The parts live in `kefu_bench::load`; this file is
//! the flags and which part runs.
//!
//! - Closed loop (default): `--concurrency` callers, each sending its next call when
//!   its last one answered, for `--duration` seconds or `--requests` calls.
//! - Open loop (`--rate N`): N calls/s on a fixed schedule for `--duration` seconds,
//!   latency counted from each call's due time (no coordinated omission), at most
//!   `--max-outstanding` calls out at once (a call due beyond that counts as Dropped).
//! - Search (`--find-max-rate --p99-ms X`): short open-loop steps, rising then
//!   bisected, for the highest rate whose OK p99 ≤ X ms with at most
//!   `--max-error-share` failed.
//!
//! Questions come from `--questions FILE` (one per line) or a built-in set;
//! `--repeat-share` of calls repeat one verbatim (cache hits), the rest are new.
//! Output: text (the `OK: N` and `summary …` lines scripts read), `--markdown-row`,
//! or `--json`. Ctrl-C / SIGINT ends a run early and still reports.

use anyhow::{Context, Result, bail};
use clap::Parser;
use kefu_bench::load::caller::{self, CallSpec, Caller};
use kefu_bench::load::closed_loop::{self, ClosedLoop};
use kefu_bench::load::mix::Mix;
use kefu_bench::load::open_loop::{self, OpenLoop};
use kefu_bench::load::report::{Load, Report};
use kefu_bench::load::schedule::Schedule;
use kefu_bench::load::search::{self, Bar, Plan};
use std::time::Duration;
use tokio::sync::watch;

/// How long an open-loop run waits for the calls still out after its schedule ends.
const DRAIN: Duration = Duration::from_secs(10);
/// Warm-up questions in flight at once, and the time each may take.
const WARM_UP_WIDTH: usize = 8;
const WARM_UP_LIMIT: Duration = Duration::from_secs(10);

/// Load generator for kefu-server (Ask RPC): closed loop, open loop or a rate search.
#[derive(Parser, Debug)]
#[command(name = "kefu-load", version)]
struct Args {
    /// Server address; loopback only.
    #[arg(long, default_value = "127.0.0.1:50051")]
    addr: String,
    /// Closed loop: concurrent callers.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Stop after this many seconds (closed or open loop).
    #[arg(long, visible_alias = "duration-secs", default_value_t = 10)]
    duration: u64,
    /// Stop after this many calls in total (caps an open-loop schedule too).
    #[arg(long, default_value_t = 100_000)]
    requests: u64,
    /// Make every question unique (defeats the embedding cache: measures the encoder
    /// path); the same as --repeat-share 0.
    #[arg(long, conflicts_with = "repeat_share")]
    unique: bool,
    /// Questions, one per line (default: built-in customer questions).
    #[arg(long)]
    questions: Option<std::path::PathBuf>,
    /// Share of calls (0.0..=1.0) that ask a question of the set verbatim, a cache hit
    /// once asked; the rest ask a new variation the encoder must embed
    /// [default: 1.0, or 0.0 with --unique].
    #[arg(long)]
    repeat_share: Option<f64>,
    #[arg(long, default_value_t = 5)]
    k: u32,
    /// Per-call deadline in ms, sent as `grpc-timeout` (default: none).
    #[arg(long)]
    deadline_ms: Option<u64>,
    /// HTTP/2 connections the calls share [default: one per 100 callers, or per 100
    /// outstanding calls in the open loop].
    #[arg(long)]
    connections: Option<usize>,
    /// Closed loop: after a failed call, a caller waits this many ms before its next one
    /// (0: retry at once, a retry storm that competes with the server for CPU).
    #[arg(long, default_value_t = 0)]
    backoff_ms: u64,
    /// Also print one Markdown table row: callers (or rate), deadline, calls, OK, p50,
    /// p99, first error, errors.
    #[arg(long)]
    markdown_row: bool,
    /// Make every Nth call a Routing/Route filing a new ticket (0: Ask only). Through a
    /// load balancer these reach the router replica; they grow its queue and log.
    #[arg(long, default_value_t = 0)]
    route_every: u64,
    /// Open loop: launch this many calls per second on a fixed schedule, whether or not
    /// earlier calls answered; latency counts from each call's due time.
    #[arg(long, conflicts_with = "find_max_rate")]
    rate: Option<f64>,
    /// Open loop: most calls unanswered at once; a call due beyond this is not sent and
    /// counts as an error (Dropped).
    #[arg(long, default_value_t = 1000)]
    max_outstanding: usize,
    /// Print the whole report as JSON (and nothing else) on stdout.
    #[arg(long)]
    json: bool,
    /// Search for the highest open-loop rate whose OK p99 is at most --p99-ms.
    #[arg(long, requires = "p99_ms")]
    find_max_rate: bool,
    /// Search: the p99 bar for OK calls, in ms.
    #[arg(long)]
    p99_ms: Option<f64>,
    /// Search: most share of calls that may fail at a rate that meets the bar.
    #[arg(long, default_value_t = 0.01)]
    max_error_share: f64,
    /// Search: the first rate tried, calls/s (doubled while the bar holds).
    #[arg(long, default_value_t = 50.0)]
    start_rate: f64,
    /// Search: the highest rate tried, calls/s.
    #[arg(long, default_value_t = 5000.0)]
    max_rate: f64,
    /// Search: seconds per step.
    #[arg(long, default_value_t = 5)]
    step_secs: u64,
    /// Search: most steps.
    #[arg(long, default_value_t = 12)]
    max_steps: u32,
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = Args::parse();
    caller::check_loopback(&a.addr)?;
    check_flags(&a)?;
    let share = a.repeat_share.unwrap_or(if a.unique { 0.0 } else { 1.0 });
    // The process id: a second run must not hit the first run's cache.
    let mix = Mix::new(questions(&a)?, share, std::process::id().to_string())?;
    let open = a.rate.is_some() || a.find_max_rate;
    let per_100 = if open { a.max_outstanding } else { a.concurrency };
    let connections = a.connections.unwrap_or(per_100.div_ceil(100)).max(1);
    let spec = CallSpec {
        k: a.k,
        deadline: a.deadline_ms.map(Duration::from_millis),
        route_every: a.route_every,
        run: run_id()?.into(),
    };
    let pool = caller::connect(&a.addr, connections, spec).await?;
    let stop = stop_on_sigint();
    if a.find_max_rate {
        return find_max_rate(&a, &pool, &mix, stop).await;
    }
    let report = match a.rate {
        Some(rate) => {
            warm_up(&pool, &mix).await;
            open_step(&a, &pool, &mix, rate, Duration::from_secs(a.duration), stop).await?
        }
        None => {
            let cfg = ClosedLoop {
                callers: a.concurrency,
                requests: a.requests,
                duration: Duration::from_secs(a.duration),
                backoff: Duration::from_millis(a.backoff_ms),
            };
            let (tally, elapsed) = closed_loop::run(&cfg, &pool, &mix, stop).await;
            let load = Load::Closed {
                callers: a.concurrency,
            };
            Report::new(load, &tally, elapsed, a.deadline_ms, share)
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
        if a.markdown_row {
            println!("{}", report.markdown_row());
        }
    }
    Ok(())
}

/// Refuses numbers no run can use, before connecting.
fn check_flags(a: &Args) -> Result<()> {
    if let Some(rate) = a.rate {
        Schedule::new(rate, Duration::from_secs(a.duration), a.requests)?;
    }
    if a.find_max_rate {
        if !a.p99_ms.is_some_and(|ms| ms > 0.0) || !(0.0..=1.0).contains(&a.max_error_share) {
            bail!("--p99-ms must be positive and --max-error-share within 0.0..=1.0");
        }
        if !(a.start_rate >= 1.0 && a.max_rate >= a.start_rate) {
            bail!("--start-rate must be at least 1 and at most --max-rate");
        }
    }
    Ok(())
}

/// The question set: `--questions FILE` (non-empty lines) or the built-in one.
fn questions(a: &Args) -> Result<Vec<String>> {
    Ok(match &a.questions {
        Some(p) => std::fs::read_to_string(p)
            .with_context(|| format!("read {}", p.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect(),
        None => kefu_bench::QUESTIONS.iter().map(|s| s.to_string()).collect(),
    })
}

/// Ticket ids unique across runs against one routing log.
fn run_id() -> Result<String> {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    Ok(format!("load-{}-{ms}", std::process::id()))
}

/// Turns true on Ctrl-C / SIGINT (scripts stop a run when their own step is done, e.g.
/// a rolling reload); the run then ends early and still reports.
fn stop_on_sigint() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = tx.send(true);
        }
    });
    rx
}

/// Asks the repeated questions once before the clock starts; says so on stderr.
async fn warm_up(pool: &[Caller], mix: &Mix) {
    if mix.warm_up().is_empty() {
        return;
    }
    let t = open_loop::warm_up(pool, mix, WARM_UP_WIDTH, WARM_UP_LIMIT).await;
    let (n, ok) = (mix.warm_up().len(), t.ok_calls());
    eprintln!(
        "warm-up: {n} questions asked, {ok} OK ({} calls with retries)",
        t.calls()
    );
}

/// One open-loop run at `rate` for `duration`.
async fn open_step(
    a: &Args,
    pool: &[Caller],
    mix: &Mix,
    rate: f64,
    duration: Duration,
    stop: watch::Receiver<bool>,
) -> Result<Report> {
    let schedule = Schedule::new(rate, duration, a.requests)?;
    if Schedule::new(rate, duration, u64::MAX)?.calls() > schedule.calls() {
        eprintln!(
            "note: --requests {} caps this schedule (it ends early)",
            a.requests
        );
    }
    let cfg = OpenLoop {
        schedule,
        max_outstanding: a.max_outstanding.max(1),
        drain: DRAIN,
    };
    let (tally, elapsed) = open_loop::run(&cfg, pool, mix, stop).await;
    let load = Load::Open {
        rate,
        max_outstanding: cfg.max_outstanding,
    };
    Ok(Report::new(load, &tally, elapsed, a.deadline_ms, mix.share()))
}

/// `--find-max-rate`: bounded open-loop steps; each step asks new questions of its own.
async fn find_max_rate(a: &Args, pool: &[Caller], mix: &Mix, stop: watch::Receiver<bool>) -> Result<()> {
    let bar = Bar {
        p99_ms: a.p99_ms.context("--find-max-rate needs --p99-ms")?,
        max_error_share: a.max_error_share,
    };
    let plan = Plan {
        start_rate: a.start_rate,
        max_rate: a.max_rate,
        min_rate: 1.0,
        growth: 2.0,
        tolerance: 0.02,
        max_steps: a.max_steps,
    };
    warm_up(pool, mix).await;
    let step = |i: u32, rate: f64| {
        let (mix, stop) = (
            mix.with_salt(format!("{}-s{i}", std::process::id())),
            stop.clone(),
        );
        async move {
            let report = open_step(
                a,
                pool,
                &mix,
                rate,
                Duration::from_secs(a.step_secs),
                stop.clone(),
            )
            .await?;
            // A step cut short by SIGINT says nothing about its rate.
            Ok::<_, anyhow::Error>((!*stop.borrow()).then_some(report))
        }
    };
    let progress = |i: usize, s: &search::Step| {
        if !a.json {
            println!("{}", search::step_line(i, s));
        }
    };
    let found = search::run(plan, bar, step, progress).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        // The step lines were printed as they finished.
        println!("{}", found.answer_line());
    }
    Ok(())
}

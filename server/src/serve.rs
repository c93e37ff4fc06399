//! Wiring: the tonic server with health and reflection, the HTTP endpoint
//! (REST/JSON API, metrics, health), the index watcher, signals, and graceful shutdown.

use crate::admin::AdminService;
use crate::answers::AnswersService;
use crate::config::Config;
use crate::home::{RouterLink, RoutingHome};
use crate::proto::admin_server::AdminServer;
use crate::proto::answers_server::AnswersServer;
use crate::proto::routing_server::RoutingServer;
use crate::routing::{Desk, RoutingService};
use crate::state::{AppState, StartError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A started server: its bound addresses and how to stop it.
pub struct Running {
    pub grpc_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub state: Arc<AppState>,
    stop: watch::Sender<bool>,
    draining: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting calls, lets in-flight ones finish, then returns.
    pub async fn shutdown(self) {
        self.draining.store(true, Ordering::SeqCst);
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        tracing::info!("server stopped");
    }
}

/// Loads model and index, binds the listeners and serves in background tasks.
pub async fn start(config: Config) -> Result<Running, StartError> {
    let listen = config.listen;
    let metrics_addr = config.metrics;
    // Who may call, checked before anything slow loads: a refused start fails at once.
    let keys = crate::auth::KeyRing::load(config.api_keys.as_deref(), &config.api_key)?;
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(
            crate::auth::tls::server_config(cert, key, config.tls_client_ca.as_deref())
                .map_err(StartError::Tls)?,
        ),
        _ => None,
    };
    crate::auth::exposure(
        listen,
        metrics_addr,
        crate::auth::Protection {
            keys: keys.is_some(),
            tls: tls.is_some(),
            client_ca: config.tls_client_ca.is_some(),
            insecure: config.insecure,
        },
    )
    .map_err(StartError::Exposed)?;
    match &keys {
        Some(k) => tracing::info!(keys = k.len(), "API keys required on gRPC and REST"),
        None => tracing::info!("no API keys: every caller may do everything (loopback only)"),
    }
    let gate = Arc::new(crate::auth::Gate::new(keys));
    let max_msg = config.max_message_bytes;
    let watch_secs = config.watch_secs;
    let log = kefu_engine::route::LogOptions {
        fsync: match config.routing_fsync_every {
            1 => kefu_engine::route::FsyncPolicy::Always,
            n => kefu_engine::route::FsyncPolicy::EveryN(n),
        },
        salvage: config.routing_salvage,
    };
    let routing_dir = config.routing_dir.clone();
    // An answer replica opens no routing log: the router named by --router owns it.
    let home = match &config.router {
        Some(addr) => RoutingHome::Router(RouterLink::new(addr).map_err(|e| {
            StartError::Config(crate::config::ConfigError::Value {
                setting: "router".into(),
                from: crate::config::Source::Default,
                message: format!("{addr} is not a usable router address: {e}"),
            })
        })?),
        None => RoutingHome::Here(Arc::new(
            tokio::task::spawn_blocking(move || Desk::open(&routing_dir, log))
                .await
                .expect("routing recovery task panicked")?,
        )),
    };
    let state = Arc::new(
        tokio::task::spawn_blocking(move || AppState::load(config))
            .await
            .expect("loading task panicked")?,
    );
    let listener = TcpListener::bind(listen).await.map_err(|e| StartError::Bind {
        addr: listen,
        source: e,
    })?;
    let grpc_addr = listener.local_addr().map_err(|e| StartError::Bind {
        addr: listen,
        source: e,
    })?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<AnswersServer<AnswersService>>()
        .await;
    health_reporter.set_serving::<AdminServer<AdminService>>().await;
    match &home {
        RoutingHome::Here(_) => {
            health_reporter
                .set_serving::<RoutingServer<RoutingService>>()
                .await
        }
        RoutingHome::Router(_) => {
            health_reporter
                .set_not_serving::<RoutingServer<RoutingService>>()
                .await
        }
    }
    // Both reflection versions: grpcurl and evans speak v1, but older grpcio tools,
    // Postman and some IDE plugins only ask v1alpha and would report "no services".
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("descriptor sets are generated at build time");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("descriptor sets are generated at build time");

    // One instance of each service, shared by the gRPC server and the REST routes.
    let (stop, stop_rx) = watch::channel(false);
    let calls = Arc::new(crate::layer::Calls::new(
        state.metrics.clone(),
        state.config.max_concurrent,
    ));
    let services = Arc::new(crate::rest::Services {
        calls: calls.clone(),
        answers: Arc::new(AnswersService {
            state: state.clone(),
            desk: home.clone(),
        }),
        admin: Arc::new(AdminService { state: state.clone() }),
        routing: Arc::new(RoutingService {
            state: state.clone(),
            desk: home.clone(),
            stop: stop_rx.clone(),
        }),
    });
    // Every call's deadline is stamped on it by the RPC layer (crate::layer) as it arrives.
    let answers = AnswersServer::from_arc(services.answers.clone())
        .max_decoding_message_size(max_msg)
        .max_encoding_message_size(max_msg);
    let admin = AdminServer::from_arc(services.admin.clone())
        .max_decoding_message_size(max_msg)
        .max_encoding_message_size(max_msg);
    let routing = RoutingServer::from_arc(services.routing.clone())
        .max_decoding_message_size(max_msg)
        .max_encoding_message_size(max_msg);

    let draining = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();

    let mut rx = stop_rx.clone();
    let reporter = health_reporter.clone();
    let tls_on = tls.is_some();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder
            .tls_config(tls)
            .map_err(|e| StartError::Tls(error_chain(&e)))?;
    }
    let grpc = builder
        // Outer first: every call is counted (refused keys too), then the key is checked.
        .layer(crate::layer::RpcLayer::new(calls))
        .layer(crate::auth::GrpcGateLayer::new(gate.clone()))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(answers)
        .add_service(admin)
        .add_service(routing)
        // TCP_NODELAY: without it small responses wait for delayed ACKs (~40 ms per call).
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            async move {
                let _ = rx.wait_for(|s| *s).await;
                reporter.set_not_serving::<AnswersServer<AnswersService>>().await;
            },
        );
    tasks.push(tokio::spawn(async move {
        if let Err(e) = grpc.await {
            tracing::error!(error = %e, "gRPC server failed");
        }
    }));
    tracing::info!(%grpc_addr, tls = tls_on, "gRPC listening");

    let http_addr = match metrics_addr {
        None => None,
        Some(addr) => {
            let l = TcpListener::bind(addr)
                .await
                .map_err(|e| StartError::Bind { addr, source: e })?;
            let bound = l.local_addr().map_err(|e| StartError::Bind { addr, source: e })?;
            let app = crate::http::router(state.clone(), draining.clone(), services.clone(), gate.clone());
            let mut rx = stop_rx.clone();
            tasks.push(tokio::spawn(async move {
                let _ = axum::serve(l, app)
                    .with_graceful_shutdown(async move {
                        let _ = rx.wait_for(|s| *s).await;
                    })
                    .await;
            }));
            tracing::info!(%bound, "REST/JSON API, metrics and health over HTTP");
            Some(bound)
        }
    };

    // Waiting tickets' rings widen with time: the desk's owner looks again every second.
    if let RoutingHome::Here(desk) = &home {
        let mut rx = stop_rx.clone();
        let ticking = desk.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = rx.wait_for(|s| *s) => return,
                }
                let d = ticking.clone();
                let _ = tokio::task::spawn_blocking(move || d.tick()).await;
            }
        }));
    }

    if watch_secs > 0 {
        tasks.push(tokio::spawn(watch_current(
            state.clone(),
            Duration::from_secs(watch_secs),
            stop_rx.clone(),
        )));
    }

    Ok(Running {
        grpc_addr,
        http_addr,
        state,
        stop,
        draining,
        tasks,
    })
}

/// An error and its sources on one line (tonic's transport errors say little on their own).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        next = cause.source();
    }
    s
}

/// Reloads when the root's `current` names a version other than the served one.
async fn watch_current(state: Arc<AppState>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut refused: Option<String> = None;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let root = state.index_root.clone();
        let Ok(Ok(Some(name))) = tokio::task::spawn_blocking(move || root.current()).await else {
            continue;
        };
        if name == state.index().manifest().version || refused.as_deref() == Some(&name) {
            continue;
        }
        let s = state.clone();
        let n = name.clone();
        let ok = tokio::task::spawn_blocking(move || s.reload(Some(&n), "watch").is_ok())
            .await
            .unwrap_or(false);
        // Try a refused version once, not every tick.
        refused = if ok { None } else { Some(name) };
    }
}

/// The signals the server stops on (SIGTERM, SIGINT) or reloads on (SIGHUP).
///
/// Installed before [`start`]: the ports listen as soon as `start` binds them, and a
/// supervisor that sees them open may send SIGTERM at once; without a handler yet,
/// that signal would kill the process instead of draining it.
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the three handlers (from inside the tokio runtime).
    pub fn install() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Self {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
        })
    }
}

/// Runs until SIGTERM or SIGINT, reloading `current` on SIGHUP; then drains and returns.
pub async fn run_until_signal(running: Running, mut signals: Signals) {
    loop {
        tokio::select! {
            _ = signals.interrupt.recv() => break,
            _ = signals.terminate.recv() => break,
            _ = signals.hangup.recv() => {
                let s = running.state.clone();
                let _ = tokio::task::spawn_blocking(move || s.reload(None, "sighup")).await;
            }
        }
    }
    tracing::info!("shutting down: draining in-flight calls");
    running.shutdown().await;
}

//! `kefu-server`: parse configuration, start serving, stop on SIGTERM/ctrl-c.

use clap::Parser;
use kefu_server::config::{Args, Config, LogFormat};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kefu-server: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEFU_LOG").unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(ansi).init(),
    }
    let running = match kefu_server::start(config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("kefu-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        version = %running.state.index().manifest().version,
        grpc = %running.grpc_addr,
        "kefu-server ready"
    );
    kefu_server::run_until_signal(running).await;
    ExitCode::SUCCESS
}

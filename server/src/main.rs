//! `kefu-server`: load the configuration, start serving, stop on SIGTERM/ctrl-c.

use kefu_server::config::{ConfigError, LogFormat, layers};
use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let loaded = match layers::load_from(std::env::args_os()) {
        Ok(l) => l,
        // --help, --version and flag errors: clap prints and picks the exit code.
        Err(ConfigError::Cli(e)) => layers::exit_with(e),
        Err(e) => {
            eprintln!("kefu-server: {e}");
            return ExitCode::from(2);
        }
    };
    if loaded.cli.print_config {
        return match loaded.to_toml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kefu-server: {e}");
                ExitCode::from(2)
            }
        };
    }
    let config = loaded.cli.settings;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEFU_LOG").unwrap_or_else(|_| "info".into());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    match config.log_format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.with_ansi(ansi).init(),
    }
    // Before the ports open, so a SIGTERM sent as soon as they answer drains the server.
    let signals = match kefu_server::Signals::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kefu-server: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
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
    kefu_server::run_until_signal(running, signals).await;
    ExitCode::SUCCESS
}

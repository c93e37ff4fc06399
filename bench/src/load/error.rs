//! Why a load run could not start: bad flags, no questions, an address off loopback, no connection.

/// Why `kefu-load` refused or failed to start a run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("--rate must be a positive number of calls per second, not {0}")]
    BadRate(f64),
    #[error("--repeat-share must be between 0.0 and 1.0, not {0}")]
    BadShare(f64),
    #[error("no questions to send")]
    NoQuestions,
    #[error("kefu-load only targets loopback addresses, not {0}")]
    NotLoopback(String),
    #[error("connect to {addr}: {source}")]
    Connect {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
    #[error("--addr {addr} is not a usable address: {source}")]
    BadAddr {
        addr: String,
        #[source]
        source: tonic::transport::Error,
    },
}

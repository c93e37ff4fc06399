//! TLS on the gRPC port through rustls (tonic's `tls-ring`): the server's certificate
//! chain and key, and optionally a CA whose client certificates are then required (mTLS).

use std::path::Path;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The TLS settings of the gRPC server, read from PEM files; errors name the file.
pub fn server_config(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<ServerTlsConfig, String> {
    let read = |p: &Path, what: &str| -> Result<Vec<u8>, String> {
        let bytes = std::fs::read(p).map_err(|e| format!("cannot read {what} {}: {e}", p.display()))?;
        if !bytes.windows(11).any(|w| w == b"-----BEGIN ") {
            return Err(format!("{what} {} is not PEM (no -----BEGIN line)", p.display()));
        }
        Ok(bytes)
    };
    let mut config = ServerTlsConfig::new().identity(Identity::from_pem(
        read(cert, "--tls-cert")?,
        read(key, "--tls-key")?,
    ));
    if let Some(ca) = client_ca {
        // With a client CA tonic requires a client certificate signed by it on every connection.
        config = config.client_ca_root(Certificate::from_pem(read(ca, "--tls-client-ca")?));
    }
    Ok(config)
}

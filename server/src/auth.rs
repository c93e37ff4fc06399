//! Who may connect and what they may call: API keys with roles ([`keys`], [`policy`]),
//! applied to gRPC and REST alike ([`layer`]); TLS and client certificates on the gRPC
//! port ([`tls`]); and the rule that an open server stays on loopback ([`exposure`]).

pub mod keys;
pub mod layer;
pub mod policy;
pub mod tls;

pub use keys::{KeyRing, Role, hash_secret};
pub use layer::GrpcGateLayer;
pub use policy::{Caller, Gate, caller};

use std::net::SocketAddr;

/// At most this many characters of a caller's id go into an error message.
const ECHO_CHARS: usize = 64;

/// An id as error messages show it: cut short, so a huge id cannot bloat a status.
fn shorten(id: &str) -> String {
    match id.char_indices().nth(ECHO_CHARS) {
        Some((i, _)) => format!("{}…", &id[..i]),
        None => id.to_string(),
    }
}

/// How the listeners are protected, for [`exposure`].
#[derive(Debug, Clone, Copy)]
pub struct Protection {
    pub keys: bool,
    pub tls: bool,
    pub client_ca: bool,
    pub insecure: bool,
}

/// Refuses an unprotected server off loopback. The gRPC port off loopback needs TLS and a
/// way to tell callers apart (API keys or client certificates); the HTTP port (REST,
/// metrics) speaks plain HTTP, so off loopback it would carry keys in clear, and needs
/// `--insecure` whatever else is set. With `--insecure` the server starts and each
/// exposed listener gets a loud warning line.
pub fn exposure(grpc: SocketAddr, http: Option<SocketAddr>, p: Protection) -> Result<(), String> {
    let mut faults = Vec::new();
    if !grpc.ip().is_loopback() {
        let mut missing = Vec::new();
        if !p.tls {
            missing.push("TLS (--tls-cert, --tls-key)");
        }
        if !p.keys && !p.client_ca {
            missing.push("API keys (--api-keys) or client certificates (--tls-client-ca)");
        }
        if !missing.is_empty() {
            faults.push(format!(
                "gRPC listens on {grpc} without {}",
                missing.join(" and ")
            ));
        }
    }
    if let Some(h) = http
        && !h.ip().is_loopback()
    {
        faults.push(format!(
            "HTTP (REST, metrics) listens on {h} in plain text, where keys and answers travel unencrypted"
        ));
    }
    if faults.is_empty() {
        return Ok(());
    }
    if !p.insecure {
        return Err(format!(
            "refusing to start: {}; keep the listeners on loopback, add what is missing, or pass --insecure to accept the risk",
            faults.join("; ")
        ));
    }
    for f in &faults {
        tracing::warn!("INSECURE (--insecure): {f}: anyone who reaches it can read and change routing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Protection = Protection {
        keys: false,
        tls: false,
        client_ca: false,
        insecure: false,
    };

    #[test]
    fn only_loopback_may_run_open() {
        let lo: SocketAddr = "127.0.0.1:50051".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        assert!(exposure(lo, Some(lo), OPEN).is_ok());
        assert!(exposure("[::1]:1".parse().unwrap(), None, OPEN).is_ok());
        let err = exposure(any, Some(lo), OPEN).unwrap_err();
        assert!(
            err.contains("TLS") && err.contains("API keys") && err.contains("--insecure"),
            "{err}"
        );
        let tls_only = Protection { tls: true, ..OPEN };
        assert!(exposure(any, None, tls_only).unwrap_err().contains("API keys"));
        assert!(
            exposure(
                any,
                None,
                Protection {
                    keys: true,
                    ..tls_only
                }
            )
            .is_ok()
        );
        assert!(
            exposure(
                any,
                None,
                Protection {
                    client_ca: true,
                    ..tls_only
                }
            )
            .is_ok()
        );
        let all = Protection {
            keys: true,
            tls: true,
            client_ca: true,
            insecure: false,
        };
        assert!(exposure(lo, Some(any), all).unwrap_err().contains("HTTP"));
        assert!(
            exposure(
                any,
                Some(any),
                Protection {
                    insecure: true,
                    ..OPEN
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn long_ids_are_cut_in_messages() {
        assert_eq!(shorten("ana"), "ana");
        let long = "x".repeat(10_000);
        assert_eq!(shorten(&long).chars().count(), ECHO_CHARS + 1);
    }
}

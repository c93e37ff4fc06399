//! The plain-HTTP side: Prometheus `/metrics`, `/healthz` (process alive),
//! `/readyz` (serving an index and not draining), and the REST/JSON API with
//! its `/openapi.json` and index page ([`crate::rest`]).

use crate::state::AppState;
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub fn router(
    state: Arc<AppState>,
    draining: Arc<AtomicBool>,
    services: Arc<crate::rest::Services>,
    gate: Arc<crate::auth::Gate>,
) -> Router {
    let metrics_state = state.clone();
    let rest = crate::rest::router(services, state.config.max_message_bytes, gate);
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let s = metrics_state.clone();
                async move {
                    s.metrics.encoder_queue_depth.set(s.encoder.depth() as i64);
                    (
                        [(
                            header::CONTENT_TYPE,
                            "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        )],
                        s.metrics.encode(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let s = state.clone();
                let d = draining.clone();
                async move {
                    if d.load(Ordering::SeqCst) {
                        (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_string()).into_response()
                    } else {
                        (
                            StatusCode::OK,
                            format!("ready: serving {}\n", s.index().manifest().version),
                        )
                            .into_response()
                    }
                }
            }),
        )
        .merge(rest)
        .fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            crate::rest::Failure {
                http: StatusCode::NOT_FOUND,
                code: tonic::Code::NotFound,
                message: format!(
                    "no route for {method} {}; the routes are listed at / and /openapi.json",
                    uri.path()
                ),
            }
        })
        .method_not_allowed_fallback(|method: axum::http::Method, uri: axum::http::Uri| async move {
            crate::rest::Failure {
                http: StatusCode::METHOD_NOT_ALLOWED,
                code: tonic::Code::Unimplemented,
                message: format!(
                    "{} does not take {method}; the routes are listed at / and /openapi.json",
                    uri.path()
                ),
            }
        })
}

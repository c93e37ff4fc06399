//! `kefu.v1.Admin`: what is served, and switching it.

use crate::proto::admin_server::Admin;
use crate::proto::{InfoRequest, InfoResponse, ReloadRequest, ReloadResponse};
use crate::state::{AppState, ReloadError};
use std::sync::Arc;
use tonic::{Request, Response, Status};

pub struct AdminService {
    pub state: Arc<AppState>,
}

impl From<ReloadError> for Status {
    fn from(e: ReloadError) -> Self {
        match e {
            ReloadError::BadName(_) | ReloadError::OutsideRoot { .. } => {
                Status::invalid_argument(e.to_string())
            }
            ReloadError::NotFound { .. } => Status::not_found(e.to_string()),
            ReloadError::Broken { .. } | ReloadError::Mismatch { .. } => {
                Status::failed_precondition(e.to_string())
            }
        }
    }
}

#[tonic::async_trait]
impl Admin for AdminService {
    async fn reload(&self, request: Request<ReloadRequest>) -> Result<Response<ReloadResponse>, Status> {
        let version = request.into_inner().version;
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || state.reload(Some(&version), "rpc"))
            .await
            .map_err(|e| Status::internal(format!("reload task failed: {e}")))
            .and_then(|r| r.map_err(Status::from))
            .map(|(previous_version, version)| {
                Response::new(ReloadResponse {
                    previous_version,
                    version,
                })
            })
    }

    async fn info(&self, _: Request<InfoRequest>) -> Result<Response<InfoResponse>, Status> {
        let index = self.state.index();
        let m = index.manifest();
        let manifest_json = serde_json::to_string_pretty(m).map_err(|e| Status::internal(e.to_string()))?;
        Ok(Response::new(InfoResponse {
            index_version: m.version.clone(),
            index_root: self.state.index_root.path().display().to_string(),
            manifest_json,
            model: self.state.model.space.name.clone(),
            model_sha256: self.state.model.space.sha256.clone(),
            dim: m.dim as u32,
            articles: m.articles,
            vectors: m.points,
            uptime_seconds: self.state.started.elapsed().as_secs(),
            server_version: env!("CARGO_PKG_VERSION").to_string(),
        }))
    }
}

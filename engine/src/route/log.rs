//! The append side of the routing log: where the bytes go, when they are
//! fsynced, and how a failed append is rolled back (the choices are explained
//! at the top of [`wal`](super::wal)).

use super::RouteError;
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

/// When the log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsyncPolicy {
    /// After every record: nothing acknowledged is ever lost.
    Always,
    /// After every n records (and on snapshot/drop): faster, may lose the last n-1 on power loss.
    EveryN(u32),
}

/// Where log bytes go: the log file, or in tests a wrapper that fails on cue.
pub trait LogSink: Send {
    /// Appends at the end; may have written part of `bytes` when it fails.
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()>;
    /// Makes everything appended so far durable.
    fn sync(&mut self) -> std::io::Result<()>;
    /// Cuts the log to `len` bytes; later appends follow them.
    fn truncate(&mut self, len: u64) -> std::io::Result<()>;
}

/// The log file, opened in append mode (so appends follow a truncation).
impl LogSink for File {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.write_all(bytes)
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.sync_data()
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        self.set_len(len)
    }
}

/// The append side of the log.
pub(super) struct Log {
    pub(super) path: PathBuf,
    pub(super) sink: Box<dyn LogSink>,
    /// End of the last good record.
    pub(super) len: u64,
    pub(super) unsynced: u32,
    pub(super) policy: FsyncPolicy,
    /// Why the log refuses writes, once it does.
    pub(super) failed: Option<String>,
}

impl Log {
    pub(super) fn usable(&self) -> Result<(), RouteError> {
        match &self.failed {
            Some(reason) => Err(RouteError::LogFailed {
                path: self.path.clone(),
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Appends one record and fsyncs per policy; on failure the log is as before, or failed.
    pub(super) fn append(&mut self, bytes: &[u8]) -> Result<(), RouteError> {
        self.usable()?;
        if let Err(e) = self.sink.append(bytes) {
            return Err(self.roll_back(format!("write failed: {e}")));
        }
        self.unsynced += 1;
        let due = match self.policy {
            FsyncPolicy::Always => true,
            FsyncPolicy::EveryN(n) => self.unsynced >= n.max(1),
        };
        if due && let Err(e) = self.sink.sync() {
            if self.unsynced > 1 {
                let acked = self.unsynced - 1;
                return Err(self.fail(format!(
                    "fsync failed ({e}) with {acked} acknowledged records unsynced; what reached the disk is unknown"
                )));
            }
            return Err(self.roll_back(format!("fsync failed: {e}")));
        }
        if due {
            self.unsynced = 0;
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    /// Cuts the log back to its last good record after a failed append.
    fn roll_back(&mut self, why: String) -> RouteError {
        match self.sink.truncate(self.len).and_then(|()| self.sink.sync()) {
            Ok(()) => {
                self.unsynced = 0;
                tracing::warn!(path = %self.path.display(), at = self.len, "routing log append rolled back: {why}");
                RouteError::AppendFailed {
                    path: self.path.clone(),
                    reason: why,
                }
            }
            Err(e) => self.fail(format!(
                "{why}, and cutting the log back to byte {} failed too: {e}",
                self.len
            )),
        }
    }

    fn fail(&mut self, reason: String) -> RouteError {
        tracing::error!(path = %self.path.display(), "routing log out of service: {reason}");
        self.failed = Some(reason.clone());
        RouteError::LogFailed {
            path: self.path.clone(),
            reason,
        }
    }

    pub(super) fn sync(&mut self) -> Result<(), RouteError> {
        self.usable()?;
        if self.unsynced > 0 {
            if let Err(e) = self.sink.sync() {
                let n = self.unsynced;
                return Err(self.fail(format!(
                    "fsync failed ({e}) with {n} acknowledged records unsynced"
                )));
            }
            self.unsynced = 0;
        }
        Ok(())
    }
}

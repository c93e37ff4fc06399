//! Durability: the routing log and its snapshots.
//!
//! **What a record holds.** A command and the effects the router decided for
//! it (`record.rs` has the byte format). Recovery applies the
//! effects and decides nothing, so a restart on a CPU with another
//! dot-product kernel, or with changed weights or rings, restores exactly the
//! assignments and queue callers were told about. A command that changes
//! nothing (a tick with nobody to place) writes no record.
//!
//! **Order of a change.** Decide (pure, nothing changes) → append the record
//! and fsync per policy → apply the effects to memory → answer. A change whose
//! record is not durable per the policy is neither in memory nor acknowledged.
//!
//! **A failed append is rolled back** — the choice made here: the file is cut
//! back to the end of the last good record and fsynced, so a half-written
//! record never stays in the middle of the log, and the call fails with
//! [`RouteError::AppendFailed`] (nothing changed; retry later). When that is
//! not possible the log is marked failed, and every later change is refused
//! with [`RouteError::LogFailed`] until a restart recovers from what the disk
//! really holds (reads keep working). That happens when the cut or its fsync
//! fails, and when an fsync fails while records already acknowledged under
//! `EveryN` are unsynced: after a failed writeback Linux may drop the dirty
//! pages and report success next time, so only bytes an earlier fsync made
//! durable are trusted — under `Always`, every byte before the failed record.
//!
//! **Recovery.** The snapshot, then the records after its sequence number. A
//! bad last record is the torn tail of a crash mid-write: dropped with a
//! warning. A bad record followed by intact ones is damage: opening is refused
//! with its byte offset and what follows it, unless `salvage` is set — then
//! the damaged bytes are skipped, the loss is reported, the log is copied
//! aside and a snapshot is taken at once, so the next open is clean.
//!
//! **Snapshot.** `snapshot.json` = `{seq, config, state}`, written to a
//! temporary file, fsynced and renamed; the log then restarts empty. It
//! records the RouterConfig in force; opening with another config logs a
//! warning naming what changed (the recorded state is kept as it is; new
//! decisions use the new config) and takes a fresh snapshot.

use super::RouteError;
use super::config::RouterConfig;
use super::log::{FsyncPolicy, Log, LogSink};
use super::plan::{Command, Outcome};
use super::record::{self, Damage};
use super::router::{Router, RouterState};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// How a routing log is opened and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogOptions {
    pub fsync: FsyncPolicy,
    /// Skip damaged records in the middle of the log instead of refusing to open (they are lost).
    pub salvage: bool,
}

impl From<FsyncPolicy> for LogOptions {
    fn from(fsync: FsyncPolicy) -> Self {
        Self {
            fsync,
            salvage: false,
        }
    }
}

/// What opening the routing directory found and did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    /// Sequence number of the last record in the state.
    pub seq: u64,
    /// Records applied after the snapshot.
    pub replayed: u64,
    /// Records from before effects were logged, decided again.
    pub decided_again: u64,
    /// Bytes of a torn last record, dropped.
    pub torn_tail_bytes: u64,
    /// Damaged stretches skipped by salvage.
    pub skipped: Vec<Damage>,
    /// Records lost in them.
    pub records_lost: u64,
    /// Where the damaged log was copied before it was rewritten.
    pub damaged_copy: Option<PathBuf>,
    /// Logged effects that did not fit the state (only after a salvage).
    pub effects_skipped: usize,
    /// What differs from the config the snapshot was taken under.
    pub config_changes: Vec<String>,
}

#[derive(Deserialize)]
struct Snapshot {
    seq: u64,
    /// Absent in snapshots from before configs were recorded.
    #[serde(default)]
    config: Option<RouterConfig>,
    state: RouterState,
}

#[derive(Serialize)]
struct SnapshotRef<'a> {
    seq: u64,
    config: &'a RouterConfig,
    state: &'a RouterState,
}

/// The log's file name in the routing directory.
pub(crate) const LOG: &str = "routing.wal";
/// The snapshot's file name in the routing directory.
pub(crate) const SNAPSHOT: &str = "snapshot.json";

/// A router whose every change is logged before anyone hears of it.
pub struct DurableRouter {
    router: Router,
    dir: PathBuf,
    log: Log,
    seq: u64,
    since_snapshot: u64,
    /// Records between automatic snapshots.
    pub snapshot_every: u64,
    recovery: Recovery,
}

impl DurableRouter {
    /// Opens (or creates) the state directory and recovers: snapshot, then the log after it.
    pub fn open(dir: &Path, cfg: RouterConfig, options: impl Into<LogOptions>) -> Result<Self, RouteError> {
        Self::open_with_sink(dir, cfg, options, |f| Box::new(f))
    }

    /// [`open`](Self::open), with the log file wrapped by `sink` (how tests make writes fail).
    pub fn open_with_sink(
        dir: &Path,
        cfg: RouterConfig,
        options: impl Into<LogOptions>,
        sink: impl FnOnce(File) -> Box<dyn LogSink>,
    ) -> Result<Self, RouteError> {
        let options = options.into();
        let err = |reason: String| RouteError::Log {
            path: dir.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let snapshot = match std::fs::read(dir.join(SNAPSHOT)) {
            Ok(bytes) => {
                let unreadable = |reason: String| RouteError::Log {
                    path: dir.join(SNAPSHOT),
                    reason: format!("unreadable snapshot: {reason}"),
                };
                let s = serde_json::from_slice::<Snapshot>(&bytes).map_err(|e| unreadable(e.to_string()))?;
                // Recovery trusts the state's cross-references; a damaged one is refused, not half-used.
                s.state.check().map_err(unreadable)?;
                Some(s)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(e.to_string())),
        };
        let (mut seq, recorded, state) = match snapshot {
            Some(s) => (s.seq, s.config, s.state),
            None => (0, None, RouterState::default()),
        };
        let mut router = Router::from_state(state, cfg);
        let log_path = dir.join(LOG);
        let contents = record::read(&log_path, options.salvage, seq)?;
        let mut rec = Recovery {
            torn_tail_bytes: contents.torn_bytes,
            records_lost: contents.damage.iter().map(|d| d.records_lost).sum(),
            ..Recovery::default()
        };
        for r in contents.records {
            if r.seq <= seq {
                continue; // already in the snapshot
            }
            match &r.effects {
                Some(effects) => rec.effects_skipped += router.apply(effects),
                None => {
                    rec.decided_again += 1;
                    if let Err(e) = router.execute(&r.command) {
                        tracing::warn!(seq = r.seq, error = %e, "logged command failed when decided again");
                    }
                }
            }
            seq = r.seq;
            rec.replayed += 1;
        }
        if !contents.damage.is_empty() {
            let copy = dir.join(format!("{LOG}.damaged-{seq}"));
            std::fs::copy(&log_path, &copy)
                .map_err(|e| err(format!("keeping a copy of the damaged log: {e}")))?;
            rec.damaged_copy = Some(copy);
        }
        rec.skipped = contents.damage;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| err(e.to_string()))?;
        // Drop a torn tail so new records follow the last good one.
        file.set_len(contents.end).map_err(|e| err(e.to_string()))?;
        if let Some(before) = &recorded {
            rec.config_changes = router.config().changes_since(before);
        }
        if !rec.config_changes.is_empty() {
            tracing::warn!(
                changes = %rec.config_changes.join("; "),
                "routing config differs from the one the recorded state was decided under; \
                 recorded assignments and queue stay as they are, new decisions use the new config"
            );
        }
        rec.seq = seq;
        let mut me = Self {
            router,
            dir: dir.to_path_buf(),
            log: Log {
                path: log_path,
                sink: sink(file),
                len: contents.end,
                unsynced: 0,
                policy: options.fsync,
                failed: None,
            },
            seq,
            since_snapshot: rec.replayed,
            snapshot_every: 10_000,
            recovery: rec,
        };
        let r = &me.recovery;
        if recorded.is_none() || !r.config_changes.is_empty() || r.decided_again > 0 || !r.skipped.is_empty()
        {
            // Record the config in force (and rewrite a salvaged or old-format log).
            if let Err(e) = me.snapshot() {
                tracing::warn!(error = %e, "could not take the snapshot after recovery; will retry");
            }
        }
        let r = &me.recovery;
        tracing::info!(
            seq,
            replayed = r.replayed,
            torn_tail_bytes = r.torn_tail_bytes,
            records_lost = r.records_lost,
            "routing state recovered"
        );
        Ok(me)
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// What recovery found when this router was opened.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Decides a command, logs it with its effects, then applies them; nothing changes if any step fails.
    pub fn execute(&mut self, command: Command) -> Result<Vec<Outcome>, RouteError> {
        self.log.usable()?;
        let plan = self.router.plan(&command)?;
        if plan.effects.is_empty() {
            return Ok(plan.outcomes); // nothing changed: nothing to log
        }
        let bytes =
            record::encode(self.seq + 1, &command, &plan.effects).map_err(|reason| RouteError::Log {
                path: self.log.path.clone(),
                reason,
            })?;
        self.log.append(&bytes)?;
        self.seq += 1;
        let skipped = self.router.apply(&plan.effects);
        debug_assert_eq!(skipped, 0, "a fresh plan always fits the state");
        self.since_snapshot += 1;
        if self.since_snapshot >= self.snapshot_every
            && let Err(e) = self.snapshot()
        {
            // The record is durable; the snapshot only bounds replay time. Try again later.
            tracing::warn!(error = %e, "routing snapshot failed; the log keeps growing until one succeeds");
            self.since_snapshot = 0;
        }
        Ok(plan.outcomes)
    }

    /// Forces buffered records to disk.
    pub fn sync(&mut self) -> Result<(), RouteError> {
        self.log.sync()
    }

    /// Writes the whole state atomically, then starts an empty log.
    pub fn snapshot(&mut self) -> Result<(), RouteError> {
        self.log.sync()?;
        let err = |path: &Path, e: std::io::Error| RouteError::Log {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        let snap = SnapshotRef {
            seq: self.seq,
            config: self.router.config(),
            state: self.router.state(),
        };
        let bytes = serde_json::to_vec(&snap).map_err(|e| RouteError::Log {
            path: self.dir.join(SNAPSHOT),
            reason: e.to_string(),
        })?;
        let tmp = self.dir.join(".snapshot.tmp");
        File::create(&tmp)
            .and_then(|mut f| f.write_all(&bytes).and_then(|()| f.sync_all()))
            .map_err(|e| err(&tmp, e))?;
        std::fs::rename(&tmp, self.dir.join(SNAPSHOT)).map_err(|e| err(&tmp, e))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| err(&self.dir, e))?;
        self.since_snapshot = 0;
        // Records up to `seq` are in the snapshot: until the log is cut, recovery skips them.
        let restarted = self.log.sink.truncate(0).map(|()| self.log.len = 0);
        if let Err(e) = restarted.and_then(|()| self.log.sink.sync()) {
            tracing::warn!(error = %e, "could not restart the routing log after a snapshot; its records are skipped on recovery");
        }
        Ok(())
    }
}

impl Drop for DurableRouter {
    fn drop(&mut self) {
        if self.log.failed.is_none() && self.log.unsynced > 0 {
            let _ = self.log.sink.sync();
        }
    }
}

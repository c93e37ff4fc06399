//! Durability: every command the router accepted is appended to a
//! write-ahead log before the caller hears of it; snapshots bound replay time.
//!
//! Log record: `len: u32 LE | crc32(payload): u32 LE | payload (JSON Command)`.
//! A torn last record (short, or failing its CRC) is the trace of a crash
//! mid-write: it is dropped with a warning and the log is truncated there.
//! Snapshot: `snapshot.json` = state + the sequence number it includes,
//! written to a temporary file, fsynced and renamed; the log then restarts.

use super::RouteError;
use super::model::{AgentSpec, Presence, Ticket};
use super::router::{Outcome, Router, RouterConfig, RouterState};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A state change, as logged. Replaying the same commands gives the same state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    UpsertAgent {
        spec: AgentSpec,
        vector: Option<Vec<f32>>,
        now_ms: u64,
    },
    RemoveAgent {
        id: String,
        now_ms: u64,
    },
    SetPresence {
        id: String,
        presence: Presence,
        now_ms: u64,
    },
    Route {
        ticket: Ticket,
        now_ms: u64,
    },
    Complete {
        ticket: String,
        now_ms: u64,
    },
    Transfer {
        ticket: String,
        to: Option<String>,
        now_ms: u64,
    },
    Tick {
        now_ms: u64,
    },
}

/// When the log is fsynced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsyncPolicy {
    /// After every record: nothing acknowledged is ever lost.
    Always,
    /// After every n records (and on snapshot/drop): faster, may lose the last n-1 on power loss.
    EveryN(u32),
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    seq: u64,
    state: RouterState,
}

#[derive(Serialize, Deserialize)]
struct Record {
    seq: u64,
    command: Command,
}

const LOG: &str = "routing.wal";
const SNAPSHOT: &str = "snapshot.json";

/// A router whose every accepted command is logged.
pub struct DurableRouter {
    router: Router,
    dir: PathBuf,
    log: File,
    seq: u64,
    unsynced: u32,
    since_snapshot: u64,
    policy: FsyncPolicy,
    /// Records between automatic snapshots.
    pub snapshot_every: u64,
}

impl DurableRouter {
    /// Opens (or creates) the state directory and recovers: snapshot, then the log after it.
    pub fn open(dir: &Path, cfg: RouterConfig, policy: FsyncPolicy) -> Result<Self, RouteError> {
        let err = |reason: String| RouteError::Log {
            path: dir.to_path_buf(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let (mut seq, state) = match std::fs::read(dir.join(SNAPSHOT)) {
            Ok(bytes) => {
                let s: Snapshot = serde_json::from_slice(&bytes).map_err(|e| RouteError::Log {
                    path: dir.join(SNAPSHOT),
                    reason: format!("unreadable snapshot: {e}"),
                })?;
                (s.seq, s.state)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (0, RouterState::default()),
            Err(e) => return Err(err(e.to_string())),
        };
        let mut router = Router::from_state(state, cfg);
        let log_path = dir.join(LOG);
        let (records, good_len) = read_log(&log_path)?;
        let mut replayed = 0;
        for r in records {
            if r.seq <= seq {
                continue; // already in the snapshot
            }
            if let Err(e) = apply(&mut router, r.command) {
                tracing::warn!(seq = r.seq, error = %e, "logged command failed on replay");
            }
            seq = r.seq;
            replayed += 1;
        }
        let log = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(&log_path)
            .map_err(|e| err(e.to_string()))?;
        // Drop a torn tail so new records follow the last good one.
        log.set_len(good_len).map_err(|e| err(e.to_string()))?;
        let mut me = Self {
            router,
            dir: dir.to_path_buf(),
            log,
            seq,
            unsynced: 0,
            since_snapshot: replayed,
            policy,
            snapshot_every: 10_000,
        };
        use std::io::Seek;
        me.log
            .seek(std::io::SeekFrom::End(0))
            .map_err(|e| err(e.to_string()))?;
        tracing::info!(seq, replayed, "routing state recovered");
        Ok(me)
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    /// Applies a command; if it succeeds, logs it before returning.
    pub fn execute(&mut self, command: Command) -> Result<Vec<Outcome>, RouteError> {
        let out = apply(&mut self.router, command.clone())?;
        self.seq += 1;
        self.append(&Record {
            seq: self.seq,
            command,
        })?;
        self.since_snapshot += 1;
        if self.since_snapshot >= self.snapshot_every {
            self.snapshot()?;
        }
        Ok(out)
    }

    fn append(&mut self, r: &Record) -> Result<(), RouteError> {
        let payload = serde_json::to_vec(r).map_err(|e| self.log_err(e.to_string()))?;
        let mut buf = Vec::with_capacity(payload.len() + 8);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        buf.extend_from_slice(&payload);
        self.log
            .write_all(&buf)
            .map_err(|e| self.log_err(e.to_string()))?;
        self.unsynced += 1;
        let sync = match self.policy {
            FsyncPolicy::Always => true,
            FsyncPolicy::EveryN(n) => self.unsynced >= n.max(1),
        };
        if sync {
            self.sync()?;
        }
        Ok(())
    }

    /// Forces buffered records to disk.
    pub fn sync(&mut self) -> Result<(), RouteError> {
        self.log.sync_data().map_err(|e| self.log_err(e.to_string()))?;
        self.unsynced = 0;
        Ok(())
    }

    /// Writes the whole state atomically, then starts an empty log.
    pub fn snapshot(&mut self) -> Result<(), RouteError> {
        self.sync()?;
        let snap = Snapshot {
            seq: self.seq,
            state: self.router.state().clone(),
        };
        let bytes = serde_json::to_vec(&snap).map_err(|e| self.log_err(e.to_string()))?;
        let tmp = self.dir.join(".snapshot.tmp");
        let mut f = File::create(&tmp).map_err(|e| self.log_err(e.to_string()))?;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| self.log_err(e.to_string()))?;
        std::fs::rename(&tmp, self.dir.join(SNAPSHOT)).map_err(|e| self.log_err(e.to_string()))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| self.log_err(e.to_string()))?;
        // Records up to `seq` are in the snapshot; a crash before this truncate only replays skipped records.
        self.log.set_len(0).map_err(|e| self.log_err(e.to_string()))?;
        use std::io::Seek;
        self.log
            .seek(std::io::SeekFrom::Start(0))
            .map_err(|e| self.log_err(e.to_string()))?;
        self.log.sync_all().map_err(|e| self.log_err(e.to_string()))?;
        self.since_snapshot = 0;
        Ok(())
    }

    fn log_err(&self, reason: String) -> RouteError {
        RouteError::Log {
            path: self.dir.join(LOG),
            reason,
        }
    }
}

impl Drop for DurableRouter {
    fn drop(&mut self) {
        let _ = self.log.sync_data();
    }
}

/// Runs one command against the router.
pub fn apply(router: &mut Router, command: Command) -> Result<Vec<Outcome>, RouteError> {
    match command {
        Command::UpsertAgent { spec, vector, now_ms } => router.upsert_agent(spec, vector, now_ms),
        Command::RemoveAgent { id, now_ms } => router.remove_agent(&id, now_ms),
        Command::SetPresence { id, presence, now_ms } => router.set_presence(&id, presence, now_ms),
        Command::Route { ticket, now_ms } => router.route(ticket, now_ms).map(|o| vec![o]),
        Command::Complete { ticket, now_ms } => router.complete(&ticket, now_ms),
        Command::Transfer { ticket, to, now_ms } => router.transfer(&ticket, to.as_deref(), now_ms),
        Command::Tick { now_ms } => Ok(router.tick(now_ms)),
    }
}

/// Reads every intact record and the byte length they span; stops at a torn or corrupt tail.
fn read_log(path: &Path) -> Result<(Vec<Record>, u64), RouteError> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut f) => {
            f.read_to_end(&mut bytes).map_err(|e| RouteError::Log {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => {
            return Err(RouteError::Log {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    }
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < bytes.len() {
        let torn = |why: &str| {
            tracing::warn!(path = %path.display(), offset = at, "dropping torn log tail: {why}");
        };
        if bytes.len() - at < 8 {
            torn("short header");
            break;
        }
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let crc = u32::from_le_bytes(bytes[at + 4..at + 8].try_into().expect("4 bytes"));
        let Some(payload) = bytes.get(at + 8..at + 8 + len) else {
            torn("short payload");
            break;
        };
        if crc32fast::hash(payload) != crc {
            torn("checksum mismatch");
            break;
        }
        match serde_json::from_slice::<Record>(payload) {
            Ok(r) => out.push(r),
            Err(e) => {
                torn(&format!("undecodable record: {e}"));
                break;
            }
        }
        at += 8 + len;
    }
    Ok((out, at as u64))
}

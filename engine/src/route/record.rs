//! The routing log's bytes, and reading them back.
//!
//! A record is `len: u32 LE | crc32(payload): u32 LE | payload`, the payload a
//! JSON object `{"seq": n, "command": {…}, "effects": […]}`. Sequence numbers
//! rise by one per record, so a gap says how many records a damaged stretch held.
//!
//! Reading tells two kinds of bad record apart. One that is the last thing in
//! the file (short, or failing its checksum) is the torn tail of a crash
//! mid-write. One followed by an intact record is damage — a torn tail never
//! has anything after it — and a record whose checksum holds but that cannot
//! be decoded was written whole by something else (a newer kefu?): damage too.

use super::RouteError;
use super::effect::Effect;
use super::plan::Command;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The largest payload written or believed on reading.
const MAX_PAYLOAD: usize = 64 << 20;
/// Bytes before a record's payload: its length, then its crc32.
pub(crate) const HEADER: usize = 8;

/// One logged command and what it did.
#[derive(Deserialize)]
pub(super) struct Record {
    pub seq: u64,
    pub command: Command,
    /// Absent in logs written before effects were recorded; those commands are decided again.
    #[serde(default)]
    pub effects: Option<Vec<Effect>>,
}

#[derive(Serialize)]
struct RecordRef<'a> {
    seq: u64,
    command: &'a Command,
    effects: &'a [Effect],
}

/// The bytes of one record, header included.
pub(super) fn encode(seq: u64, command: &Command, effects: &[Effect]) -> Result<Vec<u8>, String> {
    let payload = serde_json::to_vec(&RecordRef {
        seq,
        command,
        effects,
    })
    .map_err(|e| e.to_string())?;
    if payload.len() > MAX_PAYLOAD {
        return Err(format!(
            "a record of {} bytes is over the {MAX_PAYLOAD}-byte limit",
            payload.len()
        ));
    }
    let mut buf = Vec::with_capacity(payload.len() + HEADER);
    buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(buf)
}

/// A damaged stretch of the log that salvage skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Damage {
    pub offset: u64,
    pub bytes: u64,
    pub reason: String,
    /// Acknowledged records lost with it: the gap in sequence numbers around it
    /// (0 for a write that failed half-way and was never acknowledged).
    pub records_lost: u64,
}

/// What a log file holds.
pub(super) struct Contents {
    pub records: Vec<Record>,
    /// Where the last intact record ends: new records go here.
    pub end: u64,
    /// Length of a torn last record, dropped.
    pub torn_bytes: u64,
    pub damage: Vec<Damage>,
}

/// Why the bytes at an offset are not a record.
struct Bad {
    reason: String,
    /// Written whole (the checksum holds): never a torn tail.
    whole: bool,
}

fn bad(reason: impl Into<String>) -> Bad {
    Bad {
        reason: reason.into(),
        whole: false,
    }
}

/// The record at `at` and the offset after it.
fn record_at(bytes: &[u8], at: usize) -> Result<(Record, usize), Bad> {
    let Some(header) = bytes.get(at..at + HEADER) else {
        return Err(bad("short header"));
    };
    let len = u32::from_le_bytes(header[..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
    if len > MAX_PAYLOAD {
        return Err(bad(format!("length {len} is over the {MAX_PAYLOAD}-byte limit")));
    }
    let Some(payload) = bytes.get(at + HEADER..at + HEADER + len) else {
        return Err(bad(format!("a {len}-byte payload runs past the end of the file")));
    };
    if crc32fast::hash(payload) != crc {
        return Err(bad("checksum mismatch"));
    }
    match serde_json::from_slice::<Record>(payload) {
        Ok(r) => Ok((r, at + HEADER + len)),
        Err(e) => Err(Bad {
            reason: format!("checksum holds but the record cannot be decoded: {e}"),
            whole: true,
        }),
    }
}

/// The first offset after `from` where an intact record starts.
fn next_intact(bytes: &[u8], from: usize) -> Option<(usize, u64)> {
    (from..bytes.len().saturating_sub(HEADER)).find_map(|p| {
        let len = u32::from_le_bytes(bytes[p..p + 4].try_into().expect("4 bytes")) as usize;
        // Cheap filters first: a payload is a JSON object that fits in the file.
        if len < 2 || len > bytes.len() - p - HEADER || bytes[p + HEADER] != b'{' {
            return None;
        }
        record_at(bytes, p).ok().map(|(r, _)| (p, r.seq))
    })
}

/// Intact records from `at` to the end, stepping over further damage.
fn count_intact(bytes: &[u8], mut at: usize) -> u64 {
    let mut n = 0;
    while at < bytes.len() {
        match record_at(bytes, at) {
            Ok((_, next)) => {
                n += 1;
                at = next;
            }
            Err(_) => match next_intact(bytes, at + 1) {
                Some((p, _)) => at = p,
                None => break,
            },
        }
    }
    n
}

/// Reads every intact record. `seq_before` is the snapshot's sequence number.
pub(super) fn read(path: &Path, salvage: bool, seq_before: u64) -> Result<Contents, RouteError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(RouteError::Log {
                path: path.to_path_buf(),
                reason: e.to_string(),
            });
        }
    };
    let mut out = Contents {
        records: Vec::new(),
        end: 0,
        torn_bytes: 0,
        damage: Vec::new(),
    };
    let mut last_seq = seq_before;
    let mut at = 0;
    while at < bytes.len() {
        let why = match record_at(&bytes, at) {
            Ok((r, next)) => {
                last_seq = last_seq.max(r.seq);
                out.records.push(r);
                at = next;
                continue;
            }
            Err(why) => why,
        };
        let after = next_intact(&bytes, at + 1);
        if after.is_none() && !why.whole {
            let torn = bytes.len() - at;
            tracing::warn!(path = %path.display(), offset = at, bytes = torn, "dropping the torn last record: {}", why.reason);
            out.torn_bytes = torn as u64;
            break;
        }
        let next = after.map_or(bytes.len(), |(p, _)| p);
        if !salvage {
            return Err(RouteError::Corrupt {
                path: path.to_path_buf(),
                offset: at as u64,
                reason: why.reason,
                bytes_after: (bytes.len() - next) as u64,
                records_after: count_intact(&bytes, next),
            });
        }
        let d = Damage {
            offset: at as u64,
            bytes: (next - at) as u64,
            reason: why.reason,
            // A write that failed half-way and was never acknowledged used no number: 0 lost.
            records_lost: after.map_or(1, |(_, seq)| seq.saturating_sub(last_seq + 1)),
        };
        tracing::warn!(path = %path.display(), offset = d.offset, bytes = d.bytes, records_lost = d.records_lost,
            "salvage: skipping a damaged stretch of the routing log: {}", d.reason);
        out.damage.push(d);
        at = next;
    }
    out.end = (bytes.len() as u64) - out.torn_bytes;
    Ok(out)
}

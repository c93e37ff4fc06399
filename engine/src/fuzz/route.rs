//! Routing recovery from arbitrary bytes: the input becomes `snapshot.json`
//! and `routing.wal` of a fresh directory, which is opened (with or without
//! salvage); a router that opens then takes commands, and what it leaves
//! behind must open again.
//!
//! Input: flags byte (bit 0: salvage; bit 1: rewrite each record's crc32 so
//! damage inside a payload gets past the checksum; bit 2: no snapshot file),
//! snapshot length (u16 LE), the snapshot, then the log.

use super::Input;
use crate::route::{
    AgentSpec, Command, DurableRouter, FsyncPolicy, LogOptions, Presence, RouterConfig, SkillNeed, Ticket,
    Tier,
};
use std::collections::BTreeMap;

use crate::route::record::HEADER;
use crate::route::wal::{LOG, SNAPSHOT};

const FLAG_SALVAGE: u8 = 1;
const FLAG_RESEAL: u8 = 2;
const FLAG_NO_SNAPSHOT: u8 = 4;

/// Fsync never: recovery is what is fuzzed, and fsyncs only cost time.
const OPTIONS: FsyncPolicy = FsyncPolicy::EveryN(u32::MAX);

/// A short valid routing directory (snapshot and log), in each mode.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let (snapshot, log) = valid_dir().expect("the seed routing log writes");
    let mut out = Vec::new();
    for (name, flags) in [
        ("strict", 0),
        ("salvage", FLAG_SALVAGE),
        ("reseal", FLAG_RESEAL),
        ("log-only", FLAG_NO_SNAPSHOT | FLAG_SALVAGE),
    ] {
        out.push((name.to_string(), input(flags, &snapshot, &log)));
    }
    out
}

/// Lays the input out as a routing directory and recovers from it.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let snap_len = input.u16() as usize;
    let snapshot = input.take(snap_len);
    let mut log = input.rest().to_vec();
    if flags & FLAG_RESEAL != 0 {
        reseal(&mut log);
    }
    let Ok(dir) = tempfile::tempdir() else {
        return;
    };
    if flags & FLAG_NO_SNAPSHOT == 0 && std::fs::write(dir.path().join(SNAPSHOT), snapshot).is_err() {
        return;
    }
    if std::fs::write(dir.path().join(LOG), &log).is_err() {
        return;
    }
    let options = LogOptions {
        fsync: OPTIONS,
        salvage: flags & FLAG_SALVAGE != 0,
    };
    let Ok(mut router) = DurableRouter::open(dir.path(), RouterConfig::default(), options) else {
        return;
    };
    let _ = router.router().queue(T0);
    for command in commands(&router) {
        let _ = router.execute(command);
    }
    let _ = router.router().queue(T0 + 60_000);
    let before = router.router().state().clone();
    drop(router);
    // What kefu wrote, kefu reads: no salvage needed, and nothing changes.
    let again = DurableRouter::open(dir.path(), RouterConfig::default(), OPTIONS)
        .unwrap_or_else(|e| panic!("a routing directory kefu just wrote does not open again: {e}"));
    assert!(
        again.router().state() == &before,
        "reopening changed the routing state"
    );
}

/// Milliseconds on the fuzzed router's clock.
const T0: u64 = 1_000_000;

/// Commands touching what recovery restored (its first agent and tickets) and something new.
fn commands(router: &DurableRouter) -> Vec<Command> {
    let state = router.router().state();
    let mut out = vec![
        agent("fuzz-agent"),
        Command::SetPresence {
            id: "fuzz-agent".into(),
            presence: Presence::Online,
            now_ms: T0,
        },
        Command::Route {
            ticket: ticket("fuzz-t1"),
            now_ms: T0,
        },
        Command::Route {
            ticket: ticket("fuzz-t2"),
            now_ms: T0 + 1,
        },
        Command::Tick { now_ms: T0 + 30_000 },
    ];
    if let Some(id) = state.agents.keys().next() {
        out.push(Command::SetPresence {
            id: id.clone(),
            presence: Presence::Online,
            now_ms: T0 + 2,
        });
        out.push(Command::Transfer {
            ticket: "fuzz-t1".into(),
            to: Some(id.clone()),
            now_ms: T0 + 3,
        });
    }
    if let Some(t) = state.assignments.keys().next() {
        out.push(Command::Complete {
            ticket: t.clone(),
            now_ms: T0 + 4,
        });
    }
    if let Some(t) = state.queue.keys().next() {
        out.push(Command::Transfer {
            ticket: t.clone(),
            to: None,
            now_ms: T0 + 5,
        });
    }
    if let Some(id) = state.agents.keys().last() {
        out.push(Command::RemoveAgent {
            id: id.clone(),
            now_ms: T0 + 6,
        });
    }
    out.push(Command::Complete {
        ticket: "fuzz-t2".into(),
        now_ms: T0 + 7,
    });
    out
}

fn agent(id: &str) -> Command {
    Command::UpsertAgent {
        spec: AgentSpec {
            id: id.into(),
            name: id.into(),
            languages: vec!["en".into(), "es".into()],
            skills: BTreeMap::from([("payments".to_string(), 3)]),
            expertise: "refunds and card payments".into(),
            tiers: vec![Tier::Standard, Tier::Vip],
            capacity: BTreeMap::from([("chat".to_string(), 2)]),
            translation: false,
        },
        vector: Some(vec![0.6, 0.8, 0.0, 0.0]),
        now_ms: T0,
    }
}

fn ticket(id: &str) -> Ticket {
    Ticket {
        id: id.into(),
        customer_id: format!("cust-{id}"),
        tier: Tier::Standard,
        language: "en".into(),
        channel: "chat".into(),
        category: "payments".into(),
        text: "my card was charged twice".into(),
        vector: Some(vec![1.0, 0.0, 0.0, 0.0]),
        required: vec![SkillNeed {
            skill: "payments".into(),
            min_level: 1,
        }],
        additional: vec![],
        priority: 1,
        created_ms: 0,
        preferred_agent: None,
    }
}

/// Rewrites the crc32 of every record whose length fits in the log.
fn reseal(log: &mut [u8]) {
    let mut at = 0;
    while let Some(header) = log.get(at..at + HEADER) {
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let Some(payload) = log.get(at + HEADER..at + HEADER + len) else {
            return;
        };
        let crc = crc32fast::hash(payload).to_le_bytes();
        log[at + 4..at + HEADER].copy_from_slice(&crc);
        at += HEADER + len;
    }
}

fn input(flags: u8, snapshot: &[u8], log: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&(snapshot.len().min(u16::MAX as usize) as u16).to_le_bytes());
    out.extend_from_slice(&snapshot[..snapshot.len().min(u16::MAX as usize)]);
    out.extend_from_slice(log);
    out
}

/// A directory after a snapshot with agents and tickets in it, then more records.
fn valid_dir() -> Result<(Vec<u8>, Vec<u8>), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut router =
        DurableRouter::open(dir.path(), RouterConfig::default(), OPTIONS).map_err(|e| e.to_string())?;
    let run = |router: &mut DurableRouter, c: Command| router.execute(c).map(drop).map_err(|e| e.to_string());
    run(&mut router, agent("a1"))?;
    run(
        &mut router,
        Command::SetPresence {
            id: "a1".into(),
            presence: Presence::Online,
            now_ms: T0,
        },
    )?;
    run(
        &mut router,
        Command::Route {
            ticket: ticket("t1"),
            now_ms: T0,
        },
    )?;
    router.snapshot().map_err(|e| e.to_string())?;
    run(&mut router, agent("a2"))?;
    for t in ["t2", "t3", "t4"] {
        run(
            &mut router,
            Command::Route {
                ticket: ticket(t),
                now_ms: T0 + 10,
            },
        )?;
    }
    run(
        &mut router,
        Command::Complete {
            ticket: "t1".into(),
            now_ms: T0 + 20,
        },
    )?;
    run(&mut router, Command::Tick { now_ms: T0 + 40_000 })?;
    drop(router);
    let read = |name: &str| std::fs::read(dir.path().join(name)).map_err(|e| e.to_string());
    Ok((read(SNAPSHOT)?, read(LOG)?))
}

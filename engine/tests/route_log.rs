//! The routing log as a specification: what a record holds, what a failed append
//! leaves behind, and what recovery accepts, refuses and salvages.

use kefu_engine::route::{
    AgentSpec, Command, DurableRouter, FsyncPolicy, LogOptions, LogSink, Outcome, Presence, RouteError,
    Router, RouterConfig, RouterState, SkillNeed, Ticket, Tier, Weights,
};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const T0: u64 = 1_000_000;

fn agent(id: &str, payments: u8, expertise: [f32; 4]) -> Command {
    Command::UpsertAgent {
        spec: AgentSpec {
            id: id.into(),
            name: id.into(),
            languages: vec!["en".into()],
            skills: BTreeMap::from([("payments".to_string(), payments)]),
            expertise: String::new(),
            tiers: vec![Tier::Standard],
            capacity: BTreeMap::from([("chat".to_string(), 3)]),
            translation: false,
        },
        vector: Some(expertise.to_vec()),
        now_ms: T0,
    }
}

fn online(id: &str) -> Command {
    Command::SetPresence {
        id: id.into(),
        presence: Presence::Online,
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
        category: String::new(),
        text: String::new(),
        vector: Some(vec![1.0, 0.0, 0.0, 0.0]),
        required: vec![SkillNeed {
            skill: "payments".into(),
            min_level: 1,
        }],
        additional: vec![],
        priority: 0,
        created_ms: 0,
        preferred_agent: None,
    }
}

fn route(id: &str, now_ms: u64) -> Command {
    Command::Route {
        ticket: ticket(id),
        now_ms,
    }
}

/// A desk with one online agent who can take `capacity` chats.
fn one_agent_desk(dir: &Path, options: impl Into<LogOptions>, capacity: u32) -> DurableRouter {
    let mut d = DurableRouter::open(dir, RouterConfig::default(), options).unwrap();
    let Command::UpsertAgent {
        mut spec,
        vector,
        now_ms,
    } = agent("a", 3, [1.0, 0.0, 0.0, 0.0])
    else {
        unreachable!()
    };
    spec.capacity.insert("chat".into(), capacity);
    d.execute(Command::UpsertAgent { spec, vector, now_ms }).unwrap();
    d.execute(online("a")).unwrap();
    d
}

fn log_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join("routing.wal")).unwrap().len()
}

fn refused(r: Result<DurableRouter, RouteError>) -> RouteError {
    match r {
        Ok(_) => panic!("the log opened"),
        Err(e) => e,
    }
}

/// Ticket → agent, for comparing who got what.
fn who_has_what(s: &RouterState) -> BTreeMap<String, String> {
    s.assignments
        .iter()
        .map(|(t, a)| (t.clone(), a.agent.clone()))
        .collect()
}

/// (offset, total length) of every record in a log file.
fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, 8 + len));
        at += 8 + len;
    }
    out
}

/// A record framed as the log frames it: `len | crc32 | payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let mut b = (payload.len() as u32).to_le_bytes().to_vec();
    b.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    b.extend_from_slice(payload);
    b
}

// --- a log file that fails on cue ----------------------------------------------

#[derive(Clone, Copy, PartialEq, Debug)]
enum WriteFault {
    /// The write fails before any byte lands.
    Nothing,
    /// Half the record lands, then the write fails (a disk filling up mid-record).
    Half,
}

#[derive(Clone, Copy, PartialEq, Debug, Default)]
enum Truncation {
    #[default]
    Works,
    Fails,
    /// Says it worked and does nothing: the log before rollback existed.
    Ignored,
}

#[derive(Default)]
struct Faults {
    next_write: Option<WriteFault>,
    next_sync: bool,
    truncation: Truncation,
}

struct FaultyLog {
    file: File,
    faults: Arc<Mutex<Faults>>,
}

fn enospc() -> std::io::Error {
    std::io::Error::from_raw_os_error(28)
}

impl LogSink for FaultyLog {
    fn append(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self.faults.lock().unwrap().next_write.take() {
            None => self.file.write_all(bytes),
            Some(WriteFault::Nothing) => Err(enospc()),
            Some(WriteFault::Half) => {
                self.file.write_all(&bytes[..bytes.len() / 2])?;
                Err(enospc())
            }
        }
    }
    fn sync(&mut self) -> std::io::Result<()> {
        if std::mem::take(&mut self.faults.lock().unwrap().next_sync) {
            return Err(std::io::Error::from_raw_os_error(5));
        }
        self.file.sync_data()
    }
    fn truncate(&mut self, len: u64) -> std::io::Result<()> {
        match self.faults.lock().unwrap().truncation {
            Truncation::Works => self.file.set_len(len),
            Truncation::Fails => Err(std::io::Error::from_raw_os_error(5)),
            Truncation::Ignored => Ok(()),
        }
    }
}

fn faulty_desk(dir: &Path, options: impl Into<LogOptions>) -> (DurableRouter, Arc<Mutex<Faults>>) {
    let faults = Arc::new(Mutex::new(Faults::default()));
    let f = faults.clone();
    let mut d = DurableRouter::open_with_sink(dir, RouterConfig::default(), options, move |file| {
        Box::new(FaultyLog { file, faults: f })
    })
    .unwrap();
    let Command::UpsertAgent {
        mut spec,
        vector,
        now_ms,
    } = agent("a", 3, [1.0, 0.0, 0.0, 0.0])
    else {
        unreachable!()
    };
    spec.capacity.insert("chat".into(), 100);
    d.execute(Command::UpsertAgent { spec, vector, now_ms }).unwrap();
    d.execute(online("a")).unwrap();
    (d, faults)
}

// --- what a record holds ----------------------------------------------------------

#[test]
fn replay_restores_the_recorded_assignments_even_after_the_weights_changed() {
    let weights = |proficiency, expertise| Weights {
        proficiency,
        expertise,
        idle: 0.0,
        spare: 0.0,
        sticky: 0.0,
    };
    let by_skill = RouterConfig {
        weights: weights(10.0, 0.0),
        ..RouterConfig::default()
    };
    let by_expertise = RouterConfig {
        weights: weights(0.0, 10.0),
        ..RouterConfig::default()
    };
    let mut commands = vec![
        agent("veteran", 5, [0.0, 1.0, 0.0, 0.0]),
        agent("newcomer", 1, [1.0, 0.0, 0.0, 0.0]),
        online("veteran"),
        online("newcomer"),
    ];
    commands.extend((0..8).map(|i| route(&format!("t{i}"), T0 + i)));
    commands.push(Command::Complete {
        ticket: "t0".into(),
        now_ms: T0 + 100,
    });

    let dir = tempfile::tempdir().unwrap();
    let told = {
        let mut d = DurableRouter::open(dir.path(), by_skill.clone(), FsyncPolicy::Always).unwrap();
        for c in &commands {
            d.execute(c.clone()).unwrap();
        }
        d.router().state().clone()
    };
    // Deciding again under the new weights would hand the same tickets to other agents.
    let mut redecided = Router::new(by_expertise.clone());
    for c in &commands {
        redecided.execute(c).unwrap();
    }
    assert_ne!(who_has_what(redecided.state()), who_has_what(&told));

    let d = DurableRouter::open(dir.path(), by_expertise.clone(), FsyncPolicy::Always).unwrap();
    assert_eq!(d.router().state(), &told, "the state callers were told about");
    assert_eq!(
        d.router().config().weights,
        by_expertise.weights,
        "new decisions use the new weights"
    );
    let changes = &d.recovery().config_changes;
    assert!(
        changes.len() == 1 && changes[0].starts_with("weights"),
        "{changes:?}"
    );
    drop(d);
    let d = DurableRouter::open(dir.path(), by_expertise, FsyncPolicy::Always).unwrap();
    assert!(
        d.recovery().config_changes.is_empty(),
        "the snapshot now records the new config"
    );
    assert_eq!(d.router().state(), &told);
}

#[test]
fn a_tick_that_changes_nothing_writes_no_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    d.execute(agent("a", 3, [1.0, 0.0, 0.0, 0.0])).unwrap(); // offline
    let mut wants_german = ticket("t");
    wants_german.additional = vec![SkillNeed {
        skill: "german-law".into(),
        min_level: 2,
    }];
    d.execute(Command::Route {
        ticket: wants_german,
        now_ms: T0,
    })
    .unwrap();
    d.execute(online("a")).unwrap();
    assert_eq!(
        d.router().state().queue.len(),
        1,
        "nobody may take it until ring one"
    );
    let len = log_len(dir.path());
    for s in 1..30 {
        assert!(
            d.execute(Command::Tick {
                now_ms: T0 + s * 1000
            })
            .unwrap()
            .is_empty()
        );
        assert_eq!(log_len(dir.path()), len, "tick at {s} s wrote a record");
    }
    // Ring one (30 s) drops the additional skill: this tick changes something, and is logged.
    let out = d.execute(Command::Tick { now_ms: T0 + 30_000 }).unwrap();
    assert!(matches!(&out[..], [Outcome::Assigned { .. }]), "{out:?}");
    assert!(log_len(dir.path()) > len);
}

// --- a failed append ----------------------------------------------------------------

#[test]
fn a_failed_append_changes_nothing_and_later_commands_survive_a_restart() {
    // The full-disk story: the Route that hit ENOSPC fails, its ticket is not kept, a retry
    // succeeds once there is room, and everything acknowledged after it survives kill -9.
    let write = |w| Faults {
        next_write: Some(w),
        ..Faults::default()
    };
    let cases = [
        ("write fails before any byte lands", write(WriteFault::Nothing)),
        ("write fails half-way through the record", write(WriteFault::Half)),
        (
            "fsync fails",
            Faults {
                next_sync: true,
                ..Faults::default()
            },
        ),
    ];
    for (case, fault) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (mut d, faults) = faulty_desk(dir.path(), FsyncPolicy::Always);
        for i in 0..3 {
            d.execute(route(&format!("t{i}"), T0 + i)).unwrap();
        }
        let before = d.router().state().clone();
        let len = log_len(dir.path());

        *faults.lock().unwrap() = fault;
        let err = d.execute(route("full", T0 + 10)).unwrap_err();
        assert!(matches!(err, RouteError::AppendFailed { .. }), "{case}: {err}");
        assert!(err.to_string().contains("nothing changed"), "{case}: {err}");
        assert_eq!(
            d.router().state(),
            &before,
            "{case}: memory kept the failed change"
        );
        assert_eq!(
            log_len(dir.path()),
            len,
            "{case}: the failed record stayed in the file"
        );

        d.execute(route("full", T0 + 11))
            .unwrap_or_else(|e| panic!("{case}: the retry failed: {e}"));
        for i in 0..20 {
            d.execute(route(&format!("after{i}"), T0 + 20 + i)).unwrap();
        }
        let acknowledged = d.router().state().clone();
        std::mem::forget(d); // kill -9: no shutdown step

        let d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
        assert_eq!(d.router().state(), &acknowledged, "{case}");
        assert_eq!(d.router().state().assignments.len(), 24, "{case}");
        assert_eq!(
            (d.recovery().torn_tail_bytes, d.recovery().skipped.len()),
            (0, 0),
            "{case}"
        );
    }
}

#[test]
fn when_the_rollback_fails_too_the_log_refuses_every_change_until_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, faults) = faulty_desk(dir.path(), FsyncPolicy::Always);
    d.execute(route("t0", T0)).unwrap();
    let before = d.router().state().clone();
    {
        let mut f = faults.lock().unwrap();
        f.next_write = Some(WriteFault::Half);
        f.truncation = Truncation::Fails;
    }
    let err = d.execute(route("t1", T0 + 1)).unwrap_err();
    assert!(matches!(err, RouteError::LogFailed { .. }), "{err}");
    assert!(err.to_string().contains("until the server restarts"), "{err}");
    assert_eq!(d.router().state(), &before);

    faults.lock().unwrap().truncation = Truncation::Works; // the disk is fine again; the log stays failed
    let later = [
        route("t2", T0 + 2),
        Command::Complete {
            ticket: "t0".into(),
            now_ms: T0 + 3,
        },
        online("a"),
    ];
    for c in later {
        let err = d.execute(c).unwrap_err();
        assert!(matches!(err, RouteError::LogFailed { .. }), "{err}");
    }
    assert_eq!(d.router().state(), &before, "reads still work");
    drop(d);

    // The half record is the last thing in the file: a torn tail.
    let d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert!(d.recovery().torn_tail_bytes > 0);
    assert_eq!(d.router().state(), &before);
}

#[test]
fn an_fsync_failure_with_acknowledged_records_unsynced_puts_the_log_out_of_service() {
    let dir = tempfile::tempdir().unwrap();
    let (mut d, faults) = faulty_desk(dir.path(), FsyncPolicy::EveryN(4)); // records 1, 2
    d.execute(route("t0", T0)).unwrap(); // record 3, acknowledged, not yet synced
    faults.lock().unwrap().next_sync = true;
    let err = d.execute(route("t1", T0 + 1)).unwrap_err(); // record 4 is due to sync
    assert!(matches!(err, RouteError::LogFailed { .. }), "{err}");
    assert!(
        err.to_string().contains("3 acknowledged records unsynced"),
        "{err}"
    );
    assert!(!d.router().state().assignments.contains_key("t1"));
    assert!(matches!(
        d.execute(route("t2", T0 + 2)),
        Err(RouteError::LogFailed { .. })
    ));
}

// --- recovery ----------------------------------------------------------------------

#[test]
fn a_bad_record_in_the_middle_refuses_to_open_and_names_its_offset_and_salvage_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut d = one_agent_desk(dir.path(), FsyncPolicy::Always, 10); // records 1, 2
        for i in 0..6 {
            d.execute(route(&format!("t{i}"), T0 + i)).unwrap(); // records 3..=8
        }
    }
    let log = dir.path().join("routing.wal");
    let mut bytes = std::fs::read(&log).unwrap();
    let recs = records(&bytes);
    assert_eq!(recs.len(), 8);
    let (offset, len) = recs[4]; // t2's Route
    bytes[offset + len / 2] ^= 0x55;
    std::fs::write(&log, &bytes).unwrap();

    let err = refused(DurableRouter::open(
        dir.path(),
        RouterConfig::default(),
        FsyncPolicy::Always,
    ));
    let RouteError::Corrupt {
        offset: at,
        records_after,
        bytes_after,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!((*at, *records_after), (offset as u64, 3), "{err}");
    assert_eq!(*bytes_after, (bytes.len() - offset - len) as u64);
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("byte {offset}")) && msg.contains("3 intact records"),
        "{msg}"
    );
    assert_eq!(
        std::fs::read(&log).unwrap(),
        bytes,
        "a refused log is left as it was"
    );

    let salvage = LogOptions {
        fsync: FsyncPolicy::Always,
        salvage: true,
    };
    let d = DurableRouter::open(dir.path(), RouterConfig::default(), salvage).unwrap();
    let r = d.recovery();
    assert_eq!(r.records_lost, 1);
    assert_eq!((r.skipped.len(), r.skipped[0].offset), (1, offset as u64));
    assert_eq!(std::fs::read(r.damaged_copy.as_ref().unwrap()).unwrap(), bytes);
    let open: Vec<&String> = d.router().state().assignments.keys().collect();
    assert_eq!(open, ["t0", "t1", "t3", "t4", "t5"]);
    let salvaged = d.router().state().clone();
    drop(d);

    let d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert_eq!(
        d.router().state(),
        &salvaged,
        "after a salvage the log opens cleanly"
    );
}

#[test]
fn the_partial_record_a_full_disk_used_to_leave_mid_file_is_not_mistaken_for_a_torn_tail() {
    // Before rollback, a write that failed half-way stayed in the file and later records
    // followed it; recovery took it for a torn tail and dropped the 20 acknowledged after it.
    let dir = tempfile::tempdir().unwrap();
    let (mut d, faults) = faulty_desk(dir.path(), FsyncPolicy::Always);
    d.execute(route("t0", T0)).unwrap();
    let partial_at = log_len(dir.path());
    {
        let mut f = faults.lock().unwrap();
        f.next_write = Some(WriteFault::Half);
        f.truncation = Truncation::Ignored;
    }
    d.execute(route("lost", T0 + 1)).unwrap_err();
    for i in 0..20 {
        d.execute(route(&format!("after{i}"), T0 + 2 + i)).unwrap();
    }
    let acknowledged = d.router().state().clone();
    std::mem::forget(d);

    let err = refused(DurableRouter::open(
        dir.path(),
        RouterConfig::default(),
        FsyncPolicy::Always,
    ));
    assert!(
        matches!(err, RouteError::Corrupt { offset, records_after: 20, .. } if offset == partial_at),
        "{err}"
    );
    let salvage = LogOptions {
        fsync: FsyncPolicy::Always,
        salvage: true,
    };
    let d = DurableRouter::open(dir.path(), RouterConfig::default(), salvage).unwrap();
    assert_eq!(d.router().state(), &acknowledged, "all 20 are back");
    assert_eq!(
        d.recovery().records_lost,
        0,
        "the partial record was never acknowledged"
    );
}

#[test]
fn a_torn_tail_is_dropped_whether_short_or_failing_its_checksum() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("routing.wal");
    let before = {
        let d = one_agent_desk(dir.path(), FsyncPolicy::Always, 10);
        d.router().state().clone()
    };
    // A short header: the crash came after five bytes.
    File::options()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&[7, 0, 0, 0, 1])
        .unwrap();
    let mut d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert_eq!(d.recovery().torn_tail_bytes, 5);
    assert_eq!(d.router().state(), &before);

    // A whole last record whose payload never reached the disk intact.
    d.execute(route("last", T0 + 1)).unwrap();
    drop(d);
    let mut bytes = std::fs::read(&log).unwrap();
    let (offset, len) = *records(&bytes).last().unwrap();
    bytes[offset + len - 2] ^= 0x55;
    std::fs::write(&log, &bytes).unwrap();
    let mut d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert_eq!(d.recovery().torn_tail_bytes, len as u64);
    assert_eq!(d.router().state(), &before);

    // New records follow the last good one.
    d.execute(route("next", T0 + 2)).unwrap();
    let expected = d.router().state().clone();
    drop(d);
    let d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert_eq!((d.router().state(), d.recovery().torn_tail_bytes), (&expected, 0));
}

#[test]
fn a_record_written_whole_that_cannot_be_decoded_is_damage_not_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    drop(one_agent_desk(dir.path(), FsyncPolicy::Always, 10));
    let log = dir.path().join("routing.wal");
    let at = log_len(dir.path());
    let from_the_future = frame(br#"{"seq":3,"command":{"op":"teleport"},"effects":[]}"#);
    File::options()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&from_the_future)
        .unwrap();
    let err = refused(DurableRouter::open(
        dir.path(),
        RouterConfig::default(),
        FsyncPolicy::Always,
    ));
    assert!(
        matches!(err, RouteError::Corrupt { offset, records_after: 0, .. } if offset == at),
        "{err}"
    );
    assert!(err.to_string().contains("cannot be decoded"), "{err}");
}

#[test]
fn a_log_from_before_effects_were_recorded_is_decided_again_once() {
    let dir = tempfile::tempdir().unwrap();
    let commands = [agent("a", 3, [1.0, 0.0, 0.0, 0.0]), online("a"), route("t", T0)];
    let mut old_log = Vec::new();
    for (i, c) in commands.iter().enumerate() {
        let payload = serde_json::json!({ "seq": i + 1, "command": c });
        old_log.extend(frame(&serde_json::to_vec(&payload).unwrap()));
    }
    std::fs::write(dir.path().join("routing.wal"), old_log).unwrap();
    let d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert_eq!(d.recovery().decided_again, 3);
    assert_eq!(d.router().state().assignments["t"].agent, "a");
    let state = d.router().state().clone();
    drop(d);
    let d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert_eq!(d.recovery().decided_again, 0, "rewritten as a snapshot");
    assert_eq!(d.router().state(), &state);
}

// --- a real disk that fills up ---------------------------------------------------

/// A tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Result<Self, String> {
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Self(at.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn on_a_full_filesystem_the_route_that_hit_it_fails_and_nothing_after_is_lost() {
    let base = tempfile::tempdir().unwrap();
    let mnt = base.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let _fs = match Tmpfs::mount(&mnt, "512k") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!("SKIPPED: cannot mount a 512 KiB tmpfs here ({why}); needs root with CAP_SYS_ADMIN");
            return;
        }
    };
    let dir = mnt.join("routing");
    let mut d = one_agent_desk(&dir, FsyncPolicy::Always, 100);
    let filler = mnt.join("filler");
    {
        // Fill the filesystem, then give back room for a few records.
        let mut f = File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
        let full = f.metadata().unwrap().len();
        f.set_len(full - 32 * 1024).unwrap();
    }
    let long = |id: &str, now_ms| {
        let mut t = ticket(id);
        t.text = format!("{id}: {}", "my parcel is stuck at customs ".repeat(100));
        Command::Route { ticket: t, now_ms }
    };
    let mut i = 0;
    let failed = loop {
        assert!(i < 100, "the disk never filled up");
        let id = format!("t{i}");
        let (before, len) = (d.router().state().clone(), log_len(&dir));
        match d.execute(long(&id, T0 + i)) {
            Ok(_) => i += 1,
            Err(err) => {
                assert!(matches!(err, RouteError::AppendFailed { .. }), "{err}");
                assert!(err.to_string().contains("No space left on device"), "{err}");
                assert_eq!(d.router().state(), &before);
                assert_eq!(log_len(&dir), len);
                break id;
            }
        }
    };
    assert!(i >= 3, "only {i} records fitted in 32 KiB");
    assert!(
        matches!(
            d.execute(long(&failed, T0 + 200)),
            Err(RouteError::AppendFailed { .. })
        ),
        "still full: still refused, not ALREADY_EXISTS"
    );
    std::fs::remove_file(&filler).unwrap();
    d.execute(long(&failed, T0 + 300)).unwrap();
    for j in 0..20 {
        d.execute(long(&format!("after{j}"), T0 + 400 + j)).unwrap();
    }
    let acknowledged = d.router().state().clone();
    std::mem::forget(d); // kill -9

    let d = DurableRouter::open(&dir, RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert_eq!(d.router().state(), &acknowledged);
    assert_eq!(
        d.router().state().assignments.len() + d.router().state().queue.len(),
        i as usize + 21
    );
}

// --- snapshots that parse but do not hold together (found by fuzzing) ---------

/// Once panicked in the planner (`planned effect does not apply`): an agent
/// listing an open ticket that no assignment holds, then RemoveAgent.
#[test]
fn a_snapshot_whose_cross_references_disagree_is_refused_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut d = one_agent_desk(dir.path(), FsyncPolicy::Always, 3);
    d.execute(route("t1", T0)).unwrap();
    d.snapshot().unwrap();
    drop(d);
    let path = dir.path().join("snapshot.json");
    let good = std::fs::read(&path).unwrap();
    let mut damaged: serde_json::Value = serde_json::from_slice(&good).unwrap();
    damaged["state"]["agents"]["a"]["open"] = serde_json::json!(["t-elsewhere"]);
    std::fs::write(&path, serde_json::to_vec(&damaged).unwrap()).unwrap();
    let e = refused(DurableRouter::open(
        dir.path(),
        RouterConfig::default(),
        FsyncPolicy::Always,
    ));
    let msg = e.to_string();
    assert!(
        msg.contains("unreadable snapshot") && msg.contains("t-elsewhere"),
        "{msg}"
    );

    // An assignment to an agent the snapshot does not have.
    let mut damaged: serde_json::Value = serde_json::from_slice(&good).unwrap();
    damaged["state"]["assignments"]["t1"]["agent"] = serde_json::json!("nobody");
    std::fs::write(&path, serde_json::to_vec(&damaged).unwrap()).unwrap();
    let e = refused(DurableRouter::open(
        dir.path(),
        RouterConfig::default(),
        FsyncPolicy::Always,
    ));
    let msg = e.to_string();
    assert!(
        msg.contains("unreadable snapshot") && msg.contains("\"t1\""),
        "{msg}"
    );

    // The intact snapshot still opens, with the assignment in it.
    std::fs::write(&path, &good).unwrap();
    let d = DurableRouter::open(dir.path(), RouterConfig::default(), FsyncPolicy::Always).unwrap();
    assert_eq!(
        who_has_what(d.router().state()).get("t1").map(String::as_str),
        Some("a")
    );
}

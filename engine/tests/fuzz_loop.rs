//! The fuzz entry points (`kefu_engine::fuzz`) under a fixed-seed mutation
//! loop: the short, deterministic part of issue #13's fuzzing that runs in
//! `make test`. Coverage-guided runs are `make fuzz`.
//!
//! Each target starts from its committed seeds (`fuzz/seeds/<target>/`) and
//! replays its regressions (`fuzz/regressions/<target>/`: inputs that once
//! panicked), then mutates seeds — bit flips, byte sets, truncations, splices,
//! length fields set to extremes — for a fixed number of iterations. Any
//! panic fails the test and leaves the input in `target/fuzz-loop/`.

use kefu_engine::fuzz;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Mutated inputs per target: a few thousand in all, a few seconds in a debug build.
const ITERATIONS: [(&str, usize); 3] = [("index", 1200), ("kb", 2000), ("route", 800)];

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of one directory, sorted by name (empty if it does not exist).
fn inputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            let bytes = std::fs::read(e.path()).unwrap();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    out.sort();
    out
}

/// A small deterministic generator (splitmix64): the same run every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const EXTREMES: [u64; 8] = [
    0,
    1,
    0x7fff_ffff,
    0xffff_ffff,
    1 << 32,
    i64::MAX as u64,
    u64::MAX,
    64,
];

/// One to four mutations of `input`; `other` is another seed to splice from.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, other: &[u8]) {
    for _ in 0..1 + rng.below(4) {
        // The first two bytes of every target's input select a mode: mutate them rarely.
        let len = input.len();
        let at = if len > 2 && rng.below(8) != 0 {
            2 + rng.below(len - 2)
        } else {
            rng.below(len)
        };
        match rng.below(7) {
            0 if len > 0 => input[at] ^= 1 << rng.below(8),
            1 if len > 0 => input[at] = [0, 0xff, 0x7f, 0x80, b'{', b'"', b'\n', b','][rng.below(8)],
            2 => input.truncate(at),
            3 if !other.is_empty() => {
                // Splice: a stretch of another seed replaces the tail from here.
                let from = rng.below(other.len());
                let n = 1 + rng.below((other.len() - from).min(256));
                input.truncate(at);
                input.extend_from_slice(&other[from..from + n]);
            }
            4 if len >= 8 => {
                let width = [4, 8][rng.below(2)];
                let at = at.min(len - width);
                let v = EXTREMES[rng.below(EXTREMES.len())].to_le_bytes();
                input[at..at + width].copy_from_slice(&v[..width]);
            }
            5 if len > 0 => {
                // Duplicate a stretch (repeated records, repeated JSON keys).
                let n = 1 + rng.below((len - at).min(64));
                let stretch = input[at..at + n].to_vec();
                input.splice(at..at, stretch);
            }
            6 if len > 0 => {
                let n = 1 + rng.below((len - at).min(64));
                input.drain(at..at + n);
            }
            _ => input.push(rng.next() as u8),
        }
    }
}

/// Runs one input; on a panic, keeps it and fails naming the file.
fn check(target: &str, label: &str, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| fuzz::run(target, input))).is_ok() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/fuzz-loop");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}-{label}"));
    std::fs::write(&path, input).unwrap();
    panic!(
        "fuzz target {target} panicked on {label}; input kept in {} \
         (replay: cp it into fuzz/regressions/{target}/ and rerun this test)",
        path.display()
    );
}

fn run_target(target: &str) {
    let iterations = ITERATIONS.iter().find(|(t, _)| *t == target).unwrap().1;
    let seeds = inputs(&fuzz_dir().join("seeds").join(target));
    assert!(
        !seeds.is_empty(),
        "no committed seeds for {target} (cargo test -p kefu-engine --test fuzz_loop -- --ignored write_seeds)"
    );
    for (name, bytes) in seeds
        .iter()
        .chain(&inputs(&fuzz_dir().join("regressions").join(target)))
    {
        check(target, name, bytes);
    }
    let mut rng = Rng(0x6b65_6675 ^ target.len() as u64);
    for i in 0..iterations {
        let (_, seed) = &seeds[rng.below(seeds.len())];
        let (_, other) = &seeds[rng.below(seeds.len())];
        let mut input = seed.clone();
        mutate(&mut rng, &mut input, other);
        check(target, &format!("iteration-{i}"), &input);
    }
}

#[test]
fn damaged_index_versions_never_panic() {
    run_target("index");
}

#[test]
fn hostile_knowledge_base_files_never_panic() {
    run_target("kb");
}

#[test]
fn damaged_routing_directories_never_panic() {
    run_target("route");
}

/// Regenerates `fuzz/seeds/` from the entry points' own seeds (run by hand after changing them).
#[test]
#[ignore]
fn write_seeds() {
    let root = fuzz_dir().join("seeds");
    for (target, name, bytes) in fuzz::seeds() {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

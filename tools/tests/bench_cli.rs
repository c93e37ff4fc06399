//! The CLI pieces `make bench-peers` drives: `kefu export`, `kefu embed --out`,
//! `kefu embed --bench --json` and `kefu bench-recall --queries-npy --json`.
//! Shapes and agreement only; no timing is asserted.

mod common;

use common::kefu;
use std::path::Path;

fn ok(args: &[&str]) -> String {
    let out = kefu(args);
    assert!(
        out.status.success(),
        "kefu {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn failure(args: &[&str]) -> String {
    let out = kefu(args);
    assert!(!out.status.success(), "kefu {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

/// Reads a float32 .npy as NumPy would: header dict, then rows × dim little-endian floats.
fn read_npy(path: &Path) -> (Vec<f32>, usize, usize) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[..8], b"\x93NUMPY\x01\x00");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert_eq!((10 + hlen) % 16, 0, "NumPy needs the data 16-byte aligned");
    let header = std::str::from_utf8(&b[10..10 + hlen]).unwrap();
    assert!(
        header.contains("'descr': '<f4'") && header.ends_with('\n'),
        "{header}"
    );
    let shape = header
        .split("'shape': (")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    let dims: Vec<usize> = shape.split(", ").map(|s| s.parse().unwrap()).collect();
    let data: Vec<f32> = b[10 + hlen..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(data.len(), dims[0] * dims[1]);
    (data, dims[0], dims[1])
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn exported_vectors_match_embedded_questions_and_feed_bench_recall() {
    let tmp = tempfile::tempdir().unwrap();
    let p = |name: &str| tmp.path().join(name).to_str().unwrap().to_owned();
    let (idx, vecs, ids, qtxt, qnpy, saved) = (
        p("idx"),
        p("v.npy"),
        p("ids.json"),
        p("q.txt"),
        p("q.npy"),
        p("saved.npy"),
    );
    ok(&["build", "--kb", "datasets/kb.jsonl", "--out", &idx]);
    ok(&["export", &idx, "--out", &vecs, "--ids", &ids]);
    let (v, n, dim) = read_npy(Path::new(&vecs));
    assert_eq!(dim, 384);
    let ids: Vec<String> = serde_json::from_slice(&std::fs::read(&ids).unwrap()).unwrap();
    assert_eq!(ids.len(), n, "one article id per exported row");
    for row in v.chunks(dim) {
        assert!((dot(row, row) - 1.0).abs() < 1e-4, "rows are unit length");
    }

    // Sample questions of ship-002 and acct-001, with a blank line the reader skips.
    std::fs::write(
        &qtxt,
        "Where is my package?\n\nHow do I track my order?\r\nWie kann ich meine Sendung verfolgen?\n",
    )
    .unwrap();
    let said = ok(&["embed", "--questions", &qtxt, "--out", &qnpy]);
    assert!(said.contains("wrote 3 × 384"), "{said}");
    let (q, nq, qdim) = read_npy(Path::new(&qnpy));
    assert_eq!((nq, qdim), (3, 384));
    // A KB question embedded alone is the exported vector of that very point.
    for qv in q.chunks(dim) {
        let (best, score) = v
            .chunks(dim)
            .map(|row| dot(qv, row))
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        assert!(score > 0.9999, "best cosine {score}");
        assert_eq!(ids[best], "ship-002");
    }

    let report: serde_json::Value = serde_json::from_str(&ok(&[
        "bench-recall",
        &idx,
        "--queries-npy",
        &qnpy,
        "--save-queries",
        &saved,
        "--ef",
        "16,64",
        "--json",
    ]))
    .unwrap();
    assert_eq!(report["points"], n);
    assert_eq!(report["queries"], 3);
    assert_eq!(
        (report["k"].as_u64(), report["dim"].as_u64()),
        (Some(10), Some(384))
    );
    assert_eq!(
        (report["m"].as_u64(), report["m0"].as_u64()),
        (Some(16), Some(32))
    );
    assert_eq!(report["ef_construction"], 200);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["ef"], 64);
    for r in rows {
        let recall = r["recall"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&recall), "{r}");
        for key in ["mean_us", "p50_us", "p99_us"] {
            assert!(r[key].as_f64().unwrap() > 0.0, "{key} in {r}");
        }
    }
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        std::fs::read(&qnpy).unwrap(),
        "--save-queries writes back the vectors it searched"
    );

    // Vectors of another dimension are refused by name, not searched.
    let wrong = p("wrong.npy");
    ok(&["export", &idx, "--out", &wrong]);
    let mut bytes = std::fs::read(&wrong).unwrap();
    let end = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = String::from_utf8(bytes[10..end].to_vec()).unwrap();
    // Same bytes, read as 3n rows of 128; the header's space padding absorbs a longer row count.
    let mut patched = header.replace(&format!("({n}, 384)"), &format!("({}, 128)", n * 3));
    let longer = patched.len() - header.len();
    let body = patched.trim_end_matches(['\n', ' ']).len();
    assert!(patched.len() - body > longer, "padding to spare");
    patched.replace_range(body..body + longer, "");
    assert_eq!(patched.len(), header.len(), "same header length");
    bytes.splice(10..end, patched.into_bytes());
    std::fs::write(&wrong, bytes).unwrap();
    let e = failure(&["bench-recall", &idx, "--queries-npy", &wrong]);
    assert!(e.contains("dimension 128"), "{e}");
}

#[test]
fn embed_bench_json_has_the_fields_bench_peers_reads() {
    let tmp = tempfile::tempdir().unwrap();
    let qtxt = tmp.path().join("q.txt");
    std::fs::write(&qtxt, "Where is my package?\nCan I pay with PayPal?\n").unwrap();
    let q = qtxt.to_str().unwrap();
    let args = [
        "embed",
        "--questions",
        q,
        "--bench",
        "--runs",
        "3",
        "--batch",
        "4",
        "--batches",
        "2",
        "--threads",
        "2",
        "--json",
    ];
    let r: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    assert_eq!(r["encoder"], "fast:f32");
    assert_eq!(r["model"], "all-MiniLM-L6-v2");
    assert_eq!((r["dim"].as_u64(), r["threads"].as_u64()), (Some(384), Some(2)));
    assert_eq!(r["texts"], 2);
    assert_eq!(r["single"]["runs"], 3);
    assert_eq!(
        (r["batch"]["size"].as_u64(), r["batch"]["calls"].as_u64()),
        (Some(4), Some(2))
    );
    for (group, key) in [
        ("single", "p50_ms"),
        ("single", "p90_ms"),
        ("single", "mean_ms"),
        ("batch", "ms_per_call"),
        ("batch", "questions_per_s"),
    ] {
        assert!(r[group][key].as_f64().unwrap() > 0.0, "{group}.{key} in {r}");
    }

    // Only kefu's own pass takes a thread count; timing flags need --bench.
    let e = failure(&["--encoder", "candle", "embed", "--threads", "2", "hi"]);
    assert!(e.contains("RAYON_NUM_THREADS"), "{e}");
    let e = failure(&["embed", "--runs", "3", "hi"]);
    assert!(e.contains("--bench"), "{e}");
    let empty = tmp.path().join("empty.txt");
    std::fs::write(&empty, "\n  \n").unwrap();
    let e = failure(&["embed", "--questions", empty.to_str().unwrap(), "--bench"]);
    assert!(e.contains("has no texts"), "{e}");
}

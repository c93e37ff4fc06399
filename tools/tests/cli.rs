//! The `kefu` binary as an engineer uses it: exit codes and messages.

mod common;

use common::kefu;

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

#[test]
fn help_lists_every_subcommand() {
    let out = kefu(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in [
        "embed",
        "similarity",
        "build",
        "inspect",
        "verify",
        "query",
        "eval",
        "bench-recall",
        "gen",
        "export",
    ] {
        assert!(help.contains(cmd), "--help lacks {cmd}:\n{help}");
    }
}

#[test]
fn embed_prints_json_lines_with_text_dim_vector() {
    let out = kefu(&["embed", "Where is my parcel?", "Can I pay with PayPal?"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["text"], "Where is my parcel?");
    assert_eq!(lines[0]["dim"], 384);
    assert_eq!(lines[0]["vector"].as_array().unwrap().len(), 384);
}

#[test]
fn similarity_ranks_paraphrase_above_unrelated() {
    let sim = |a: &str, b: &str| -> f32 {
        let out = kefu(&["similarity", a, b]);
        assert!(out.status.success());
        text(&out.stdout).trim().parse().unwrap()
    };
    let q = "How long does the battery of this bluetooth headset last?";
    assert!(
        sim(q, "How many hours can I listen after a full charge?") > sim(q, "Can I pay with PayPal?") + 0.3
    );
}

#[test]
fn missing_model_is_a_clear_error() {
    let out = kefu(&["embed", "--model", "/nonexistent/model", "hi"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("/nonexistent/model"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn build_query_inspect_verify_round_trip() {
    let root = tempfile::tempdir().unwrap();
    let idx = root.path().join("idx");
    let idx_s = idx.to_str().unwrap();
    let out = kefu(&["build", "--kb", "datasets/kb.jsonl", "--out", idx_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("calibrated for 95% precision"),
        "{}",
        text(&out.stdout)
    );

    // The decision line comes after the hits.
    let out = kefu(&["query", idx_s, "I forgot my password and cannot log in"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("decision: ANSWER"),
        "{}",
        text(&out.stdout)
    );
    let out = kefu(&["query", idx_s, "?!… 🙂"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no letters or digits"),
        "{}",
        text(&out.stderr)
    );

    // The stored calibration, as a table and as JSON.
    let out = kefu(&["calibrate", idx_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("locale en") && table.contains("<- chosen"),
        "{table}"
    );
    // `kefu calibrate DIR | head`: a reader gone before the first line ends kefu
    // quietly, as it would any Unix tool, not with a panic in println!.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kefu"))
        .args(["calibrate", idx_s])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
    let out = kefu(&["calibrate", idx_s, "--json"]);
    let c: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(c["target_precision"], 0.95);
    assert!(c["by_locale"]["en"]["threshold"].as_f64().unwrap() > 0.0);

    // The first hit as JSON, with the global flags `pre` (encoder, precision) in front.
    let first_hit = |pre: &[&str]| -> serde_json::Value {
        let q = [
            "query",
            idx_s,
            "how many hours of music after charging",
            "--k",
            "2",
            "--json",
        ];
        let out = kefu(&[pre, &q[..]].concat());
        assert!(out.status.success(), "{}", text(&out.stderr));
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap()
    };
    assert_eq!(first_hit(&[])["article"], "tech-001");

    // The manifest names the vector space and the variant that built it; an int8
    // query encoder searches the f32-built index (same space) and finds the same article.
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::fs::read_dir(&idx)
                .unwrap()
                .flatten()
                .find(|e| e.path().is_dir())
                .unwrap()
                .path()
                .join("manifest.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(manifest["model"]["variant"], "f32", "{manifest}");
    assert_eq!(manifest["model"]["name"], "all-MiniLM-L6-v2");
    assert_eq!(first_hit(&["--precision", "int8"])["article"], "tech-001");
    let out = kefu(&[
        "--encoder",
        "candle",
        "--precision",
        "int8",
        "query",
        idx_s,
        "hello",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("candle encoder runs f32 only"),
        "{}",
        text(&out.stderr)
    );

    let out = kefu(&["query", idx_s, "pay", "--filter", "colour=red"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("unknown filter field"),
        "{}",
        text(&out.stderr)
    );

    let out = kefu(&["inspect", idx_s]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("all-MiniLM-L6-v2"));

    let out = kefu(&["verify", idx_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("stale"), "{}", text(&out.stdout));

    // A build killed two hours ago left its staging directory: verify names it.
    let dead = idx.join(".staging-v1");
    std::fs::create_dir(&dead).unwrap();
    let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::open(&dead)
        .unwrap()
        .set_modified(two_hours_ago)
        .unwrap();
    let out = kefu(&["verify", idx_s]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("stale staging directory") && text(&out.stdout).contains(".staging-v1"),
        "{}",
        text(&out.stdout)
    );

    let out = kefu(&["eval", idx_s, "--queries", "datasets/eval.jsonl", "--baseline"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    assert!(
        table.contains("overall") && table.contains("baseline 1-NN"),
        "{table}"
    );
    let out = kefu(&["eval", idx_s, "--queries", "datasets/eval.jsonl", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert!(report["overall"]["top1"].as_f64().unwrap() >= 75.0, "{report}");
    assert!(report["by_language"].is_object());

    let out = kefu(&["eval", idx_s, "--queries", "datasets/kb.jsonl"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("kb.jsonl:1: invalid eval line"),
        "{}",
        text(&out.stderr)
    );

    // Flip one byte of the vectors: verify must fail and say which file.
    let version = std::fs::read_to_string(idx.join("current")).unwrap();
    let vectors = idx.join(version.trim()).join("vectors.bin");
    let mut bytes = std::fs::read(&vectors).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    // A published version's files are read-only; give the owner the write bit back (root
    // ignores it, other users do not).
    use std::os::unix::fs::PermissionsExt;
    let mut mode = std::fs::metadata(&vectors).unwrap().permissions();
    assert_eq!(
        mode.mode() & 0o222,
        0,
        "kefu build left a write bit on vectors.bin"
    );
    mode.set_mode(mode.mode() | 0o200);
    std::fs::set_permissions(&vectors, mode).unwrap();
    std::fs::write(&vectors, bytes).unwrap();
    let out = kefu(&["verify", idx_s]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("vectors.bin") && err.contains("checksum"), "{err}");
}

#[test]
fn a_rebuild_reuses_cached_vectors_and_a_damaged_cache_is_only_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let (kb, cache) = (dir.path().join("kb.jsonl"), dir.path().join("cache"));
    let article =
        |id: &str, qs: &str| format!("{{\"id\":\"{id}\",\"answer\":\"About {id}.\",\"questions\":[{qs}]}}\n");
    let first = article("ship", "\"where is my parcel\",\"tracking number\"")
        + &article("pay", "\"can I pay by card\",\"PayPal accepted?\"");
    std::fs::write(&kb, &first).unwrap();
    let said = |name: &str| {
        let idx = dir.path().join(name);
        let out = common::kefu_with_cache(
            &[
                "build",
                "--kb",
                kb.to_str().unwrap(),
                "--out",
                idx.to_str().unwrap(),
            ],
            &cache,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stderr)
    };
    // (reused, embedded) as the build reports them.
    let counts = |name: &str| -> (usize, usize) {
        let err = said(name);
        let line = err
            .lines()
            .find(|l| l.starts_with("kefu: embedding cache "))
            .and_then(|l| l.rsplit_once(": "))
            .unwrap_or_else(|| panic!("{err}"))
            .1;
        let n: Vec<usize> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|w| w.parse().ok())
            .collect();
        (n[0], n[1])
    };
    let (reused, n) = counts("a");
    assert_eq!(reused, 0);
    assert!(n >= 4, "every question is embedded once: {n}");
    assert_eq!(counts("b"), (n, 0));
    let export = |name: &str| {
        let out_file = dir.path().join(format!("{name}.npy"));
        let idx = dir.path().join(name);
        let out = kefu(&[
            "export",
            idx.to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        std::fs::read(out_file).unwrap()
    };
    assert_eq!(export("a"), export("b"), "cached vectors are the embedded ones");

    std::fs::write(&kb, first + &article("duty", "\"who pays import duty\"")).unwrap();
    let (reused, added) = counts("c");
    assert_eq!(reused, n, "the unchanged questions come from the cache");
    assert!(added >= 1);

    let file = std::fs::read_dir(&cache).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    // A damaged cache is reported and ignored, never an error; the build rewrites it.
    let err = said("d");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert_eq!(counts("e"), (n + added, 0), "the cache was rewritten whole");
}

#[test]
fn a_synthetic_build_ignores_the_embedding_cache_setting() {
    // `kefu()` exports KEFU_EMBED_CACHE, as a user who set it in their shell would.
    let dir = tempfile::tempdir().unwrap();
    let out = kefu(&[
        "build",
        "--synthetic",
        "300",
        "--out",
        dir.path().join("syn").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn bad_kb_line_is_named_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb.jsonl");
    std::fs::write(
        &kb,
        "{\"id\":\"a\",\"answer\":\"A\",\"questions\":[\"q\"]}\n{\"id\":\"b\",\"questions\":[\"q\"]}\n",
    )
    .unwrap();
    let idx = dir.path().join("idx");
    let out = kefu(&[
        "build",
        "--kb",
        kb.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("kb.jsonl:2:") && err.contains("answer"), "{err}");
    assert!(!idx.exists(), "a failed build must not create the index root");

    let out = kefu(&[
        "build",
        "--kb",
        kb.to_str().unwrap(),
        "--out",
        idx.to_str().unwrap(),
        "--skip-bad",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("skipped 1 bad lines"));
}

#[test]
fn out_of_range_build_parameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = kefu(&[
        "build",
        "--kb",
        "datasets/kb.jsonl",
        "--out",
        dir.path().join("i").to_str().unwrap(),
        "--m",
        "1",
    ]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("--m"), "{err}");
    assert!(err.contains("must be between 2 and 128, got 1"), "{err}");
}

#[test]
fn model_import_is_listed_under_model() {
    let out = kefu(&["model", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    assert!(
        help.contains("import"),
        "`kefu model --help` lacks import:\n{help}"
    );
}

#[test]
fn model_import_refuses_a_file_that_is_not_packed_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("weights.zip");
    std::fs::write(&bad, b"PK\x03\x04 not a packed model").unwrap();
    let out_dir = dir.path().join("model");
    let out = kefu(&[
        "model",
        "import",
        "--from",
        bad.to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("weights.zip") && err.contains("\"E5S1\""), "{err}");
    assert!(!out_dir.exists(), "a refused import must not create the folder");
}

#[test]
fn logged_handoffs_join_the_calibration_and_bad_lines_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let kb = dir.path().join("kb.jsonl");
    std::fs::write(
        &kb,
        concat!(
            r#"{"id":"track","answer":"Track it with the link in your e-mail.","questions":["where is my parcel","how do I track my order","my package has not arrived"]}"#,
            "\n",
            r#"{"id":"refund","answer":"Refunds take 5 to 10 days.","questions":["when do I get my money back","how long does a refund take","refund not received"]}"#,
            "\n",
            r#"{"id":"pay","answer":"We take cards and PayPal.","questions":["can I pay with PayPal","which cards do you accept","payment methods"]}"#,
            "\n",
        ),
    )
    .unwrap();
    let logged = dir.path().join("handoffs.txt");
    std::fs::write(
        &logged,
        "# what the agents took last week\n?\ncan you sing me a song\nwhat is the weather in Paris\n",
    )
    .unwrap();
    let idx = dir.path().join("idx");
    let (kb_s, idx_s) = (kb.to_str().unwrap(), idx.to_str().unwrap());
    let build = || {
        kefu(&[
            "build",
            "--kb",
            kb_s,
            "--out",
            idx_s,
            "--out-of-scope",
            logged.to_str().unwrap(),
        ])
    };
    let out = build();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("2 logged out-of-scope questions"),
        "{}",
        text(&out.stderr)
    );
    let out = kefu(&["calibrate", idx_s, "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["overall"]["logged_out_of_scope"], 2, "{c}");

    // A line no chat message has: refused, naming the file and line, and no new version.
    std::fs::write(&logged, format!("fine question\n{}\n", "x".repeat(20_000))).unwrap();
    let before = std::fs::read_dir(&idx).unwrap().count();
    let out = build();
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("handoffs.txt:2:") && err.contains("bytes"), "{err}");
    assert_eq!(std::fs::read_dir(&idx).unwrap().count(), before);
}

//! Precedence, sources and errors of the config layers, on real files.

use super::*;

fn file(text: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kefu.toml");
    std::fs::write(&path, text).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

#[test]
fn flags_win_over_file_and_file_over_defaults() {
    let (_d, path) = file("index = \"/from/file\"\nmax_k = 7\nlisten = \"127.0.0.1:6000\"\n");
    let l = load_from(["kefu-server", "--config", &path, "--max-k", "9"]).unwrap();
    let c = l.config();
    assert_eq!(c.max_k, 9);
    assert_eq!(c.index, PathBuf::from("/from/file"));
    assert_eq!(c.listen, "127.0.0.1:6000".parse().unwrap());
    assert_eq!(c.max_batch, 64);
    assert_eq!(l.source("max_k"), Source::Flag("max-k".into()));
    assert_eq!(l.source("index"), Source::File(PathBuf::from(&path)));
    assert_eq!(l.source("max_batch"), Source::Default);
}

#[test]
fn routing_salvage_is_off_unless_asked_for_by_flag_or_file() {
    let load = |argv: &[&str]| load_from(argv.iter().copied()).unwrap().config().routing_salvage;
    assert!(!load(&["kefu-server", "--index", "/x"]));
    assert!(load(&["kefu-server", "--index", "/x", "--routing-salvage"]));
    let (_d, path) = file("index = \"/x\"\nrouting_salvage = true\n");
    assert!(load(&["kefu-server", "--config", &path]));
    assert!(
        !load(&["kefu-server", "--config", &path, "--routing-salvage=false"]),
        "the flag wins over the file"
    );
}

#[test]
fn a_bad_value_names_the_setting_and_its_source() {
    let err = load_from(["kefu-server", "--index", "/x", "--max-k", "0"]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "max_k = 0 (from flag --max-k) must be at least 1"
    );
    let (_d, path) = file("index = \"/x\"\nef = 5000\n");
    let err = load_from(["kefu-server", "--config", &path])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("ef = 5000 (from config file ") && err.contains(&path),
        "{err}"
    );
    let (_d, path) = file("index = \"/x\"\nmax_list_len = \"many\"\n");
    let err = load_from(["kefu-server", "--config", &path])
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("max_list_len from config file ") && err.contains(&path),
        "{err}"
    );
}

#[test]
fn a_related_limit_is_checked_against_its_bound() {
    let err = load_from([
        "kefu-server",
        "--index",
        "/x",
        "--default-k",
        "50",
        "--max-k",
        "10",
    ])
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("default_k = 50") && err.contains("max_k (10)"),
        "{err}"
    );
}

#[test]
fn unknown_keys_and_missing_index_are_errors() {
    let (_d, path) = file("indx = \"/typo\"\n");
    let err = load_from(["kefu-server", "--config", &path]).unwrap_err();
    assert!(
        err.to_string().contains("`indx`") && err.to_string().contains(&path),
        "{err}"
    );
    let err = load_from(["kefu-server"]).unwrap_err();
    assert!(matches!(err, ConfigError::NoIndex), "{err}");
}

#[test]
fn print_config_lists_every_setting_with_its_source() {
    let (_d, path) = file("index = \"/x\"\nqueue_text_chars = 50\n");
    let l = load_from(["kefu-server", "--config", &path, "--max-id-bytes", "99"]).unwrap();
    let text = l.to_toml().unwrap();
    assert!(
        text.contains("max_id_bytes = 99  # flag --max-id-bytes"),
        "{text}"
    );
    assert!(
        text.contains(&format!("queue_text_chars = 50  # config file {path}")),
        "{text}"
    );
    assert!(text.contains("listen = \"127.0.0.1:50051\"  # default"), "{text}");
    assert!(text.contains("# answer_threshold is unset"), "{text}");
    // What it prints is itself a config file that loads to the same settings.
    let (_d2, again) = file(&text);
    let l2 = load_from(["kefu-server", "--config", &again]).unwrap();
    assert_eq!(l2.config(), l.config());
}

#[test]
fn defaults_ignore_the_environment_and_match_the_engine_limits() {
    let c = defaults();
    assert_eq!(c.route_limits(), kefu_engine::route::Limits::DEFAULT);
    assert_eq!(c.model, PathBuf::from(kefu_engine::embed::DEFAULT_MODEL_DIR));
}

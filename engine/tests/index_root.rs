//! The index root on real directories: version naming and listing, `current`,
//! locating a version to serve (and refusing what leads outside), and the
//! `m` bounds the build and the CLI share. Synthetic vectors: no model needed.

use kefu_engine::embed::ModelId;
use kefu_engine::index::synth::{SynthCorpus, SynthParams};
use kefu_engine::index::{
    BuildParams, Corpus, Index, IndexError, IndexRoot, LocateError, M_RANGE, build_version, check_m,
};
use std::path::Path;

fn quiet(_: kefu_engine::index::Stage, _: u64, _: u64) {}

fn corpus() -> Corpus {
    let synth = SynthCorpus::new(SynthParams::default());
    let model = ModelId::f32("synthetic", "root-test", synth.dim());
    Corpus::from_vectors(synth.sample(40, 0), synth.dim(), model, "test")
}

fn build(root: &Path) -> String {
    let dir = build_version(root, &corpus(), &BuildParams::default(), &quiet).unwrap();
    dir.file_name().unwrap().to_str().unwrap().to_string()
}

#[test]
fn versions_are_listed_and_current_names_the_newest_build() {
    let tmp = tempfile::tempdir().unwrap();
    let root = IndexRoot::new(tmp.path().join("idx"));
    assert_eq!(root.current().unwrap(), None);
    let first = build(root.path());
    let second = build(root.path());
    assert_ne!(first, second, "two builds in one second got one name");
    let mut both = vec![first.clone(), second.clone()];
    both.sort();
    assert_eq!(root.versions().unwrap(), both);
    assert_eq!(root.current().unwrap().as_deref(), Some(second.as_str()));
    // A staging directory and a stray file are not versions.
    std::fs::create_dir(root.path().join(".staging-v9")).unwrap();
    std::fs::write(root.path().join("notes.txt"), "x").unwrap();
    assert_eq!(root.versions().unwrap(), both);

    root.set_current(&first).unwrap();
    assert_eq!(Index::open(root.path()).unwrap().manifest().version, first);
    let version_dir = root.path().join(&first);
    assert_eq!(IndexRoot::containing(&version_dir), root);
    assert_eq!(IndexRoot::containing(root.path()), root);
}

/// A served version is never modified in place: every file of a published version is
/// read-only (no write bit for anyone), and the directory can still be removed whole.
#[cfg(unix)]
#[test]
fn published_version_files_have_no_write_bits() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let root = IndexRoot::new(tmp.path().join("idx"));
    let dir = root.path().join(build(root.path()));
    let mut files = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o222, 0, "{:?} has mode {mode:o}", entry.file_name());
        files += 1;
    }
    assert!(files >= 6, "{files} files in {}", dir.display());
    assert!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o200 != 0);
    Index::open(&dir).unwrap().verify().unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn locate_refuses_bad_names_missing_versions_and_symlinks_out_of_the_root() {
    let tmp = tempfile::tempdir().unwrap();
    let root = IndexRoot::new(tmp.path().join("idx"));
    let v = build(root.path());
    let real = root.locate(None).unwrap();
    assert_eq!(real, std::fs::canonicalize(root.path().join(&v)).unwrap());
    assert_eq!(root.locate(Some(&v)).unwrap(), real);

    for bad in ["../idx", ".staging-x", "a/b"] {
        assert!(
            matches!(root.locate(Some(bad)), Err(LocateError::BadName(_))),
            "{bad}"
        );
    }
    assert!(matches!(
        root.locate(Some("v0")),
        Err(LocateError::NotFound { .. })
    ));

    let elsewhere = tmp.path().join("elsewhere");
    let outside = build(&elsewhere);
    std::os::unix::fs::symlink(elsewhere.join(&outside), root.path().join("sneaky")).unwrap();
    assert!(matches!(
        root.locate(Some("sneaky")),
        Err(LocateError::OutsideRoot { .. })
    ));
    root.set_current("sneaky").unwrap();
    assert!(matches!(root.locate(None), Err(LocateError::OutsideRoot { .. })));
}

#[test]
fn a_current_file_naming_no_version_is_refused_with_its_path() {
    let tmp = tempfile::tempdir().unwrap();
    let root = IndexRoot::new(tmp.path());
    std::fs::write(tmp.path().join("current"), "../../etc\n").unwrap();
    match root.current() {
        Err(IndexError::Corrupt { path, reason }) => {
            assert_eq!(path, tmp.path().join("current"));
            assert!(reason.contains("not a version name"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(Index::open(tmp.path()), Err(IndexError::Corrupt { .. })));
    assert!(root.set_current("../x").is_err());
}

#[test]
fn m_outside_its_range_is_a_build_error_naming_the_range() {
    assert_eq!(check_m(*M_RANGE.start()), Ok(*M_RANGE.start()));
    assert_eq!(check_m(*M_RANGE.end()), Ok(*M_RANGE.end()));
    let tmp = tempfile::tempdir().unwrap();
    for m in [0, 1, M_RANGE.end() + 1] {
        assert!(check_m(m).is_err(), "{m}");
        let params = BuildParams {
            m,
            ..Default::default()
        };
        match build_version(tmp.path(), &corpus(), &params, &quiet) {
            Err(IndexError::Build(msg)) => {
                assert!(msg.contains("between 2 and 128"), "{msg}");
                assert!(msg.contains(&m.to_string()), "{msg}");
            }
            other => panic!("m = {m}: {other:?}"),
        }
    }
    assert_eq!(
        IndexRoot::new(tmp.path()).versions().unwrap(),
        Vec::<String>::new()
    );
}

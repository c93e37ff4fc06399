//! Importing knowledge-base files: good files import, bad lines are named by file and line.

use kefu_engine::kb::{KbError, import_file};
use std::io::Write;
use std::path::PathBuf;

fn file(name: &str, content: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::File::create(&path).unwrap().write_all(content).unwrap();
    (dir, path)
}

fn invalid_at(name: &str, content: &[u8]) -> (usize, String) {
    let (_d, path) = file(name, content);
    match import_file(&path, false) {
        Err(KbError::Invalid {
            path: p,
            line,
            reason,
        }) => {
            assert_eq!(p, path);
            let msg = KbError::Invalid {
                path: p,
                line,
                reason: reason.clone(),
            }
            .to_string();
            assert!(msg.contains(&format!("{name}:{line}:")), "{msg}");
            (line, reason)
        }
        other => panic!("expected an invalid-line error, got {other:?}"),
    }
}

const GOOD: &str = r#"{"id":"a","answer":"A","questions":["q1","q2"],"category":"logistics","locale":"en","markets":["EU"]}"#;

#[test]
fn sample_kb_imports() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/kb.jsonl");
    let r = import_file(&path, false).unwrap();
    assert!(r.articles.len() >= 40);
    assert!(r.skipped.is_empty());
    let locales: std::collections::BTreeSet<_> = r.articles.iter().filter_map(|a| a.locale.clone()).collect();
    assert!(locales.len() >= 4, "{locales:?}");
}

#[test]
fn invalid_json_names_the_line() {
    let content = format!("{GOOD}\n\n{{\"id\": \"b\", \"answer\": \n");
    let (line, reason) = invalid_at("kb.jsonl", content.as_bytes());
    assert_eq!(line, 3);
    assert!(reason.contains("invalid article"), "{reason}");
}

#[test]
fn missing_answer_names_the_field() {
    let content = format!("{GOOD}\n{{\"id\":\"b\",\"questions\":[\"x\"]}}\n");
    let (line, reason) = invalid_at("kb.jsonl", content.as_bytes());
    assert_eq!(line, 2);
    assert!(reason.contains("answer"), "{reason}");
}

#[test]
fn article_without_questions_or_title_is_rejected() {
    let (line, reason) = invalid_at("kb.jsonl", br#"{"id":"b","answer":"B"}"#);
    assert_eq!(line, 1);
    assert!(
        reason.contains("questions") && reason.contains("title"),
        "{reason}"
    );
}

#[test]
fn empty_question_is_rejected() {
    let (_, reason) = invalid_at("kb.jsonl", br#"{"id":"b","answer":"B","questions":["ok","  "]}"#);
    assert!(reason.contains("question 2 is empty"), "{reason}");
}

#[test]
fn duplicate_id_with_different_answer_is_rejected() {
    let content = format!("{GOOD}\n{}\n", GOOD.replace("\"A\"", "\"other\""));
    let (line, reason) = invalid_at("kb.jsonl", content.as_bytes());
    assert_eq!(line, 2);
    assert!(reason.contains("duplicate id \"a\""), "{reason}");
}

#[test]
fn invalid_utf8_names_the_line() {
    let mut content = format!("{GOOD}\n").into_bytes();
    content.extend_from_slice(b"{\"id\":\"b\",\"answer\":\"\xff\xfe\",\"questions\":[\"x\"]}\n");
    let (line, reason) = invalid_at("kb.jsonl", &content);
    assert_eq!(line, 2);
    assert!(reason.contains("UTF-8"), "{reason}");
}

#[test]
fn skip_bad_counts_bad_lines_and_keeps_the_rest() {
    let content = format!("{GOOD}\nnot json\n{}\n", GOOD.replace("\"a\"", "\"c\""));
    let (_d, path) = file("kb.jsonl", content.as_bytes());
    let r = import_file(&path, true).unwrap();
    assert_eq!(r.articles.len(), 2);
    assert_eq!(r.skipped.len(), 1);
    assert!(r.skipped[0].contains("kb.jsonl:2:"), "{:?}", r.skipped);
}

#[test]
fn csv_rows_with_one_id_merge_into_one_article() {
    let csv = "id,question,answer,category,locale,markets\n\
               pay,Can I pay with PayPal?,We accept PayPal.,payment,en,EU;US\n\
               pay,Do you take PayPal,We accept PayPal.,payment,en,UK\n\
               ship,Where is my parcel?,Track it in your account.,logistics,en,EU\n";
    let (_d, path) = file("kb.csv", csv.as_bytes());
    let r = import_file(&path, false).unwrap();
    assert_eq!(r.articles.len(), 2);
    let pay = &r.articles[0];
    assert_eq!(
        pay.questions,
        vec!["Can I pay with PayPal?", "Do you take PayPal"]
    );
    assert_eq!(pay.markets, vec!["EU", "US", "UK"]);
}

#[test]
fn csv_errors_name_the_line() {
    let csv = "id,question,answer\nok,q,a\nbad,,a\n";
    let (line, reason) = invalid_at("kb.csv", csv.as_bytes());
    assert_eq!(line, 3);
    assert!(reason.contains("question is empty"), "{reason}");

    let csv = "id,question,answer\nok,q,a\nx,q,different\nok,q2,other answer\n";
    let (line, reason) = invalid_at("kb.csv", csv.as_bytes());
    assert_eq!(line, 4);
    assert!(reason.contains("different answer"), "{reason}");
}

#[test]
fn csv_without_required_columns_is_rejected() {
    let (line, reason) = invalid_at("kb.csv", b"id,text\n1,hello\n");
    assert_eq!(line, 1);
    assert!(reason.contains("answer"), "{reason}");
}

#[test]
fn unknown_extension_and_empty_file_are_errors() {
    let (_d, path) = file("kb.txt", GOOD.as_bytes());
    assert!(matches!(
        import_file(&path, false),
        Err(KbError::UnknownFormat { .. })
    ));
    let (_d, path) = file("kb.jsonl", b"\n\n");
    assert!(matches!(import_file(&path, false), Err(KbError::Empty { .. })));
    let missing = PathBuf::from("/nonexistent/kb.jsonl");
    let err = import_file(&missing, false).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/kb.jsonl"), "{err}");
}

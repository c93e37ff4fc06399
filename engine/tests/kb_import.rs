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
    let locales: std::collections::BTreeSet<_> = r.articles.iter().flat_map(|a| a.locales()).collect();
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

#[test]
fn sample_kb_answers_in_ten_languages() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../datasets/kb.jsonl");
    let r = import_file(&path, false).unwrap();
    assert!(r.articles.len() >= 150, "{}", r.articles.len());
    for a in &r.articles {
        for l in ["es", "de", "zh", "fr", "pt", "ar", "ja", "ru", "tr"] {
            let v = a
                .variants
                .get(l)
                .unwrap_or_else(|| panic!("{} has no {l} variant", a.id));
            assert!(v.questions.len() >= 3, "{} {l}", a.id);
            assert!(!v.answer.is_empty() && v.title.is_some(), "{} {l}", a.id);
        }
        assert!(a.questions.len() >= 3, "{}", a.id);
    }
}

const VARIANTS: &str = r#"{"id":"t","title":"Tracking","answer":"Use the tracking link.","questions":["where is my parcel"],"locale":"en","variants":{"es":{"title":"Seguimiento","answer":"Use el enlace.","questions":["¿dónde está mi paquete?","seguimiento"]},"zh":{"answer":"使用跟踪链接。","questions":["我的包裹在哪里"]}}}"#;

#[test]
fn variants_import_and_every_locale_becomes_samples() {
    let (_d, path) = file("kb.jsonl", VARIANTS.as_bytes());
    let a = &import_file(&path, false).unwrap().articles[0];
    let samples: Vec<(Option<&str>, &str)> = a.samples().map(|s| (s.locale, s.text)).collect();
    assert_eq!(
        samples,
        vec![
            (Some("en"), "where is my parcel"),
            (Some("en"), "Tracking"),
            (Some("es"), "¿dónde está mi paquete?"),
            (Some("es"), "seguimiento"),
            (Some("es"), "Seguimiento"),
            (Some("zh"), "我的包裹在哪里"),
            // The answers come after every question and title, so the positions above
            // are the ones indexes built before answers were indexed store.
            (Some("en"), "Use the tracking link."),
            (Some("es"), "Use el enlace."),
            (Some("zh"), "使用跟踪链接。"),
        ]
    );
    // The index stores sample positions; each reads back.
    assert_eq!(a.sample(5).unwrap().text, "我的包裹在哪里");
    assert_eq!(a.sample(7).unwrap().text, "Use el enlace.");
    assert_eq!(a.sample(kefu_engine::kb::LEGACY_TITLE).unwrap().text, "Tracking");
    assert!(a.sample(9).is_none());
    assert_eq!(a.in_locale("es-MX").unwrap().answer, "Use el enlace.");
    assert_eq!(a.in_locale("EN").unwrap().answer, "Use the tracking link.");
    assert!(a.in_locale("fr").is_none());
    assert_eq!(a.locales().collect::<Vec<_>>(), vec!["en", "es", "zh"]);
}

#[test]
fn a_bad_variant_names_the_line_and_the_locale() {
    let empty_answer = VARIANTS.replace("使用跟踪链接。", " ");
    let (line, reason) = invalid_at("kb.jsonl", format!("{GOOD}\n{empty_answer}\n").as_bytes());
    assert_eq!(line, 2);
    assert!(
        reason.contains("variant \"zh\"") && reason.contains("answer"),
        "{reason}"
    );

    let same_locale = VARIANTS.replace("\"zh\":{", "\"en-GB\":{");
    let (_, reason) = invalid_at("kb.jsonl", same_locale.as_bytes());
    assert!(reason.contains("repeats the article's own locale"), "{reason}");

    let nothing = VARIANTS.replace("\"questions\":[\"我的包裹在哪里\"]", "\"questions\":[]");
    let (_, reason) = invalid_at("kb.jsonl", nothing.as_bytes());
    assert!(reason.contains("needs at least one of"), "{reason}");
}

#[test]
fn csv_rows_in_another_locale_become_a_variant() {
    let csv = "id,question,answer,title,locale\n\
               t,where is my parcel,Use the link.,Tracking,en\n\
               t,track my order,Use the link.,Tracking,en\n\
               t,¿dónde está mi paquete?,Use el enlace.,Seguimiento,es\n\
               t,seguimiento del pedido,Use el enlace.,Seguimiento,es\n";
    let (_d, path) = file("kb.csv", csv.as_bytes());
    let a = &import_file(&path, false).unwrap().articles[0];
    assert_eq!(a.questions, vec!["where is my parcel", "track my order"]);
    let es = &a.variants["es"];
    assert_eq!(es.answer, "Use el enlace.");
    assert_eq!(es.title.as_deref(), Some("Seguimiento"));
    assert_eq!(
        es.questions,
        vec!["¿dónde está mi paquete?", "seguimiento del pedido"]
    );

    let conflict = format!("{csv}t,otra pregunta,Otra respuesta.,Seguimiento,es\n");
    let (line, reason) = invalid_at("kb.csv", conflict.as_bytes());
    assert_eq!(line, 6);
    assert!(
        reason.contains("locale \"es\" with a different answer"),
        "{reason}"
    );
}

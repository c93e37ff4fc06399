//! KB import from bytes: input = flags byte (bit 0: CSV, else JSON Lines;
//! bit 1: skip bad lines), then the file.

use super::Input;
use crate::index::Field;
use crate::kb::{Article, import_bytes};
use std::path::Path;

const JSONL: &str = r#"{"id": "ship-001", "title": "Shipping times", "answer": "Sea freight takes 25-40 days.", "questions": ["How long does shipping take?", "When will my order arrive?"], "category": "logistics", "locale": "en", "markets": ["EU", "US"], "tags": ["sea-freight"]}
{"id": "ship-002", "title": "Tracking", "answer": "You get a tracking number.", "locale": "en", "questions": ["Where is my package?"], "variants": {"es": {"title": "Seguimiento", "answer": "Recibirá un número.", "questions": ["¿Dónde está mi paquete?"]}, "zh": {"answer": "包裹交给承运商后", "questions": ["我的包裹在哪里？"]}}}
{"id": "pay-001", "answer": "We take cards.", "questions": ["Can I pay by card?"]}
"#;

const CSV: &str = "id,question,answer,title,category,locale,markets,tags
ship-001,How long does shipping take?,Sea freight takes 25-40 days.,Shipping times,logistics,en,EU;US,sea-freight
ship-001,When will my order arrive?,Sea freight takes 25-40 days.,Shipping times,logistics,en,EU,
ship-001,¿Cuánto tarda el envío?,El flete tarda 25-40 días.,Plazos,logistics,es,EU,
pay-001,\"Can I pay by card, or PayPal?\",We take cards.,,payments,,,
";

/// Valid files of both formats, strict and lenient.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, flags, file) in [("jsonl", 0u8, JSONL), ("csv", 1, CSV)] {
        for skip in [0u8, 2] {
            let mut bytes = vec![flags | skip];
            bytes.extend_from_slice(file.as_bytes());
            out.push((
                format!("{name}-{}", if skip == 0 { "strict" } else { "skip" }),
                bytes,
            ));
        }
    }
    out
}

/// Imports the bytes; on success reads every article the ways the build and the answerer do.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.u8();
    let name = if flags & 1 == 1 { "fuzz.csv" } else { "fuzz.jsonl" };
    let Ok(report) = import_bytes(Path::new(name), input.rest(), flags & 2 == 2) else {
        return;
    };
    for a in &report.articles {
        exercise(a);
    }
}

fn exercise(a: &Article) {
    // Every sample has a number the index stores, and that number finds it again.
    for (i, s) in a.samples().enumerate() {
        let again = a.sample(i as u32);
        assert_eq!(
            again,
            Some(s),
            "article {:?}: sample {i} does not round-trip",
            a.id
        );
    }
    assert!(
        a.samples().next().is_some(),
        "article {:?} imported with nothing to embed",
        a.id
    );
    for locale in a.locales().collect::<Vec<_>>() {
        let _ = a.in_locale(locale);
    }
    let _ = a.base_text();
    for f in Field::ALL {
        let _ = a.field_values(f);
    }
    // articles.bin stores each article as JSON: it must read back as written.
    let json = serde_json::to_vec(a).expect("an article serialises");
    let back: Article = serde_json::from_slice(&json).expect("an article's JSON reads back");
    assert_eq!(&back, a, "article {:?} changes through its stored JSON", a.id);
}

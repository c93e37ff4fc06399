//! The encoder against the real all-MiniLM-L6-v2 weights.

mod common;

use kefu_engine::embed::{BertEncoder, EmbedError, Encoder, ModelDir, cosine};
use std::path::Path;

fn sim(a: &str, b: &str) -> f32 {
    let v = common::encoder().embed(&[a, b]).unwrap();
    cosine(&v[0], &v[1])
}

/// (anchor, paraphrase, unrelated): the paraphrase must win by a wide margin.
const TRIPLES: &[(&str, &str, &str)] = &[
    (
        "How long does the battery of this bluetooth headset last?",
        "How many hours can I listen after a full charge?",
        "Can I pay with PayPal?",
    ),
    (
        "When will my parcel arrive?",
        "How many days does delivery take?",
        "Do you print our logo on the box?",
    ),
    (
        "Do I have to pay import duties?",
        "Will customs charge me tax on this order?",
        "How do I reset my password?",
    ),
    (
        "I want to send this item back for a refund",
        "How do I return a product and get my money back?",
        "What power supply does the LED strip need?",
    ),
    (
        "My card payment was declined",
        "Why did my credit card transaction fail?",
        "How long is the sea freight to Hamburg?",
    ),
];

#[test]
fn paraphrases_score_well_above_unrelated_questions() {
    for (a, p, u) in TRIPLES {
        let para = sim(a, p);
        let unrelated = sim(a, u).max(sim(p, u));
        assert!(
            para > unrelated + 0.3,
            "cos({a:?}, {p:?}) = {para:.3} should exceed unrelated {unrelated:.3} by 0.3"
        );
    }
}

#[test]
fn vectors_have_unit_norm_and_model_dimension() {
    let enc = common::encoder();
    assert_eq!(enc.dim(), 384);
    for v in enc.embed(&["Where is my order?", "", "运费多少钱？"]).unwrap() {
        assert_eq!(v.len(), 384);
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "norm {norm}");
    }
}

#[test]
fn embedding_alone_equals_embedding_in_padded_batch() {
    let enc = common::encoder();
    let short = "Refund?";
    let batch = [
        "Can you send me the commercial invoice and the packing list for my customs broker, please?",
        short,
        "How long does shipping to Germany take by air express?",
    ];
    let alone = enc.embed(&[short]).unwrap().remove(0);
    let in_batch = enc.embed(&batch).unwrap();
    let diff = alone
        .iter()
        .zip(&in_batch[1])
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff <= 1e-5, "max abs diff {diff}");
}

#[test]
fn embedding_is_deterministic() {
    let enc = common::encoder();
    let a = enc.embed(&["Is the product CE certified?"]).unwrap();
    let b = enc.embed(&["Is the product CE certified?"]).unwrap();
    assert_eq!(a, b);
}

#[test]
fn long_text_is_truncated_not_rejected() {
    let long = "shipping ".repeat(2000);
    let v = common::encoder().embed(&[&long]).unwrap();
    assert_eq!(v[0].len(), 384);
}

#[test]
fn empty_batch_gives_no_vectors() {
    assert!(common::encoder().embed(&[]).unwrap().is_empty());
}

#[test]
fn model_id_is_the_weights_checksum() {
    let id = common::encoder().model_id().unwrap();
    assert_eq!(
        id.space.sha256,
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
    );
    assert_eq!(id.space.dim, 384);
    assert_eq!(id.space.name, "all-MiniLM-L6-v2");
}

// --- bad model folders: each names the file and what is wrong -------------

/// Copies the real model folder (symlinking the big weights) so one file can be broken.
fn model_copy() -> tempfile::TempDir {
    let src = common::model_path();
    let dst = tempfile::tempdir().unwrap();
    for name in ["config.json", "tokenizer.json", "sentence_bert_config.json"] {
        std::fs::copy(src.join(name), dst.path().join(name)).unwrap();
    }
    std::fs::create_dir(dst.path().join("1_Pooling")).unwrap();
    std::fs::copy(
        src.join("1_Pooling/config.json"),
        dst.path().join("1_Pooling/config.json"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        src.join("model.safetensors").canonicalize().unwrap(),
        dst.path().join("model.safetensors"),
    )
    .unwrap();
    dst
}

fn load_err(dir: &Path) -> EmbedError {
    match ModelDir::open(dir).and_then(|d| BertEncoder::load(&d)) {
        Ok(_) => panic!("loading {} should fail", dir.display()),
        Err(e) => e,
    }
}

#[test]
fn copied_model_folder_loads() {
    let dir = model_copy();
    BertEncoder::from_dir(dir.path()).unwrap();
}

#[test]
fn missing_folder_is_named() {
    let err = load_err(Path::new("/nonexistent/kefu-model"));
    assert!(matches!(err, EmbedError::ModelDirMissing { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent/kefu-model"));
}

#[test]
fn missing_file_is_named() {
    for name in ["config.json", "tokenizer.json", "model.safetensors"] {
        let dir = model_copy();
        std::fs::remove_file(dir.path().join(name)).unwrap();
        let err = load_err(dir.path());
        assert!(matches!(err, EmbedError::FileMissing { .. }), "{err}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

#[test]
fn invalid_config_json_is_named() {
    let dir = model_copy();
    std::fs::write(dir.path().join("config.json"), "{ not json").unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EmbedError::InvalidConfig { .. }), "{err}");
    assert!(err.to_string().contains("config.json"));
}

#[test]
fn wrong_dimension_is_named() {
    let dir = model_copy();
    let path = dir.path().join("1_Pooling/config.json");
    let text = std::fs::read_to_string(&path).unwrap().replace("384", "768");
    std::fs::write(&path, text).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EmbedError::Dimension { .. }), "{err}");
    assert!(err.to_string().contains("768"), "{err}");

    // A config.json that disagrees with the tensors' shapes is a weights error.
    let dir = model_copy();
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"hidden_size\": 384", "\"hidden_size\": 768");
    std::fs::write(&path, text).unwrap();
    std::fs::remove_file(dir.path().join("1_Pooling/config.json")).unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EmbedError::Weights { .. }), "{err}");
    assert!(err.to_string().contains("model.safetensors"), "{err}");
}

#[test]
fn corrupt_safetensors_is_named() {
    let src = common::model_path().join("model.safetensors");
    let bytes = std::fs::read(&src).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("garbage header", {
            let mut b = bytes[..4096].to_vec();
            b[8..40].fill(b'#');
            b
        }),
        ("empty", Vec::new()),
    ];
    for (what, content) in cases {
        let dir = model_copy();
        let path = dir.path().join("model.safetensors");
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, content).unwrap();
        let err = load_err(dir.path());
        assert!(matches!(err, EmbedError::Weights { .. }), "{what}: {err}");
        assert!(err.to_string().contains("model.safetensors"), "{what}: {err}");
    }
}

#[test]
fn corrupt_tokenizer_is_named() {
    let dir = model_copy();
    std::fs::write(dir.path().join("tokenizer.json"), "{\"model\": 42}").unwrap();
    let err = load_err(dir.path());
    assert!(matches!(err, EmbedError::Tokenizer { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.json"));
}

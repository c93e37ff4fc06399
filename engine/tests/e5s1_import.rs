//! The E5S1 importer on small synthetic files: what it writes, and how it refuses damage.
//!
//! The files are written here from the layout documented in
//! engine/src/embed/import/e5s1.rs, independently of the reader, so these tests
//! pin the format as well as the importer. No real model is needed.

use kefu_engine::embed::{
    BertEncoder, Encoder, ImportError, ImportOutcome, ModelDir, Pooling, import_packed_model,
};
use safetensors::SafeTensors;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// f16 bit pattern of 0.0625, the scale of every synthetic Q4_0 block.
const SCALE_F16: u16 = 0x2C00;
const SCALE: f32 = 0.0625;

/// A tiny BERT in E5S1 form: 32-d, one layer, two heads.
struct Synth {
    hidden: usize,
    layers: usize,
    heads: usize,
    ff: usize,
    vocab_size: usize,
    positions: usize,
    types: usize,
    pieces: Vec<(&'static str, f32)>,
    /// (code point, replacement code points)
    norm: Vec<(u32, Vec<u32>)>,
}

/// A written file, and where each tensor's directory entry keeps its offset field.
struct SynthFile {
    bytes: Vec<u8>,
    offset_field: HashMap<String, usize>,
}

/// Byte offsets of header fields.
const HIDDEN_AT: usize = 8;
const LAYERS_AT: usize = 12;
const FF_AT: usize = 20;
const VOCAB_SIZE_AT: usize = 24;
const N_PIECES_AT: usize = 44;

impl Synth {
    fn tiny() -> Self {
        Self {
            hidden: 32,
            layers: 1,
            heads: 2,
            ff: 64,
            vocab_size: 12,
            positions: 16,
            types: 2,
            pieces: vec![
                ("<s>", 0.0),
                ("<pad>", 0.0),
                ("</s>", 0.0),
                ("<unk>", 0.0),
                ("▁", -2.0),
                ("a", -3.0),
                ("b", -3.0),
                ("▁a", -2.5),
                ("▁ab", -1.0),
                ("▁b", -2.5),
            ],
            // The real table's shape: controls deleted, tab to a space.
            norm: vec![(0x1, vec![]), (0x9, vec![0x20])],
        }
    }

    /// (E5S1 name, dtype 0 f32 / 1 Q4_0, elements), in file order.
    fn tensors(&self) -> Vec<(String, u8, usize)> {
        let (h, ff) = (self.hidden, self.ff);
        let mut t = vec![
            ("emb.word".to_string(), 1, self.vocab_size * h),
            ("emb.pos".into(), 0, self.positions * h),
            ("emb.type".into(), 0, self.types * h),
            ("emb.ln.w".into(), 0, h),
            ("emb.ln.b".into(), 0, h),
        ];
        for l in 0..self.layers {
            for (s, dtype, n) in [
                ("q.w", 1, h * h),
                ("q.b", 0, h),
                ("k.w", 1, h * h),
                ("k.b", 0, h),
                ("v.w", 1, h * h),
                ("v.b", 0, h),
                ("ao.w", 1, h * h),
                ("ao.b", 0, h),
                ("aln.w", 0, h),
                ("aln.b", 0, h),
                ("fi.w", 1, ff * h),
                ("fi.b", 0, ff),
                ("fo.w", 1, h * ff),
                ("fo.b", 0, h),
                ("oln.w", 0, h),
                ("oln.b", 0, h),
            ] {
                t.push((format!("l{l}.{s}"), dtype, n));
            }
        }
        t
    }

    fn write(&self) -> SynthFile {
        let mut b = Vec::new();
        b.extend_from_slice(b"E5S1");
        b.extend_from_slice(&1u32.to_le_bytes());
        for v in [
            self.hidden,
            self.layers,
            self.heads,
            self.ff,
            self.vocab_size,
            self.positions,
            self.types,
        ] {
            b.extend_from_slice(&(v as i32).to_le_bytes());
        }
        b.extend_from_slice(&1e-12f32.to_le_bytes());
        b.extend_from_slice(&32i32.to_le_bytes());

        b.extend_from_slice(&(self.pieces.len() as i32).to_le_bytes());
        for id in [0i32, 2, 1, 3] {
            b.extend_from_slice(&id.to_le_bytes());
        }
        let blob: Vec<u8> = self.pieces.iter().flat_map(|(p, _)| p.bytes()).collect();
        b.extend_from_slice(&(blob.len() as u64).to_le_bytes());
        let mut off = 0u32;
        b.extend_from_slice(&off.to_le_bytes());
        for (p, _) in &self.pieces {
            off += p.len() as u32;
            b.extend_from_slice(&off.to_le_bytes());
        }
        for (_, s) in &self.pieces {
            b.extend_from_slice(&s.to_le_bytes());
        }
        b.extend_from_slice(&blob);

        let mut norm = Vec::new();
        for (cp, out) in &self.norm {
            norm.extend_from_slice(&cp.to_le_bytes());
            norm.push(out.len() as u8);
            for o in out {
                norm.extend_from_slice(&o.to_le_bytes());
            }
        }
        b.extend_from_slice(&(self.norm.len() as i32).to_le_bytes());
        b.extend_from_slice(&(norm.len() as u32).to_le_bytes());
        b.extend_from_slice(&norm);

        let tensors = self.tensors();
        let nbytes = |dtype: u8, n: usize| if dtype == 0 { n * 4 } else { n / 32 * 18 };
        let dir_len: usize = tensors
            .iter()
            .map(|(name, _, _)| 2 + name.len() + 1 + 4 + 8 + 8)
            .sum();
        let mut data_at = (b.len() + 4 + dir_len).next_multiple_of(64);
        b.extend_from_slice(&(tensors.len() as i32).to_le_bytes());
        let mut offset_field = HashMap::new();
        let mut data = Vec::new();
        for (i, (name, dtype, n)) in tensors.iter().enumerate() {
            b.extend_from_slice(&(name.len() as u16).to_le_bytes());
            b.extend_from_slice(name.as_bytes());
            b.push(*dtype);
            b.extend_from_slice(&(*n as u32).to_le_bytes());
            offset_field.insert(name.clone(), b.len());
            b.extend_from_slice(&(data_at as u64).to_le_bytes());
            b.extend_from_slice(&(nbytes(*dtype, *n) as u64).to_le_bytes());
            let values = tensor_bytes(name, *dtype, *n, i);
            data_at += values.len().next_multiple_of(64);
            data.push(values);
        }
        for values in data {
            b.resize(b.len().next_multiple_of(64), 0);
            b.extend_from_slice(&values);
        }
        SynthFile {
            bytes: b,
            offset_field,
        }
    }
}

/// The 16 packed bytes of Q4_0 block `k` of tensor `seed`: varied, deterministic nibbles.
fn q4_nibbles(seed: usize, k: usize) -> [u8; 16] {
    let mut qs = [0u8; 16];
    for (j, q) in qs.iter_mut().enumerate() {
        let lo = (seed * 5 + k * 3 + j * 7) % 16;
        let hi = (seed * 3 + k * 11 + j * 5 + 9) % 16;
        *q = (lo | (hi << 4)) as u8;
    }
    qs
}

fn tensor_bytes(name: &str, dtype: u8, n: usize, seed: usize) -> Vec<u8> {
    let mut out = Vec::new();
    if dtype == 1 {
        for k in 0..n / 32 {
            out.extend_from_slice(&SCALE_F16.to_le_bytes());
            out.extend_from_slice(&q4_nibbles(seed, k));
        }
        return out;
    }
    for i in 0..n {
        let x = if name.ends_with("ln.w") {
            1.0
        } else {
            ((i * 13 + seed * 7) % 17) as f32 / 17.0 - 0.5
        };
        out.extend_from_slice(&f32::to_le_bytes(x * 0.2));
    }
    out
}

/// A scratch directory holding the packed file; imports go to `root/model`.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn with(bytes: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("tiny.bin"), bytes).unwrap();
        Self { dir }
    }
    fn packed(&self) -> PathBuf {
        self.dir.path().join("tiny.bin")
    }
    fn out(&self) -> PathBuf {
        self.dir.path().join("model")
    }
    fn import(&self) -> Result<ImportOutcome, ImportError> {
        import_packed_model(&self.packed(), &self.out())
    }
    /// Names in the scratch directory other than the packed file: the output and any leftovers.
    fn leftovers(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "tiny.bin")
            .collect();
        v.sort();
        v
    }
}

fn patch_i32(bytes: &mut [u8], at: usize, v: i32) {
    bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn patch_u64(bytes: &mut [u8], at: usize, v: u64) {
    bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Imports a damaged copy of the tiny model and returns the error, checking nothing was left behind.
fn import_damaged(damage: impl FnOnce(&mut SynthFile)) -> ImportError {
    let mut file = Synth::tiny().write();
    damage(&mut file);
    let scratch = Scratch::with(&file.bytes);
    let err = scratch.import().expect_err("a damaged file must not import");
    assert_eq!(
        scratch.leftovers(),
        Vec::<String>::new(),
        "a failed import left files behind"
    );
    let msg = err.to_string();
    assert!(msg.contains("tiny.bin"), "the error must name the file: {msg}");
    err
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[test]
fn a_tiny_model_imports_into_a_folder_bert_encoder_loads_and_runs() {
    let scratch = Scratch::with(&Synth::tiny().write().bytes);
    let ImportOutcome::Imported(summary) = scratch.import().unwrap() else {
        panic!("first import must write the folder");
    };
    assert_eq!(
        (summary.hidden, summary.layers, summary.heads, summary.pieces),
        (32, 1, 2, 10)
    );
    assert_eq!(
        scratch.leftovers(),
        vec!["model".to_string()],
        "no staging directory may remain"
    );

    let dir = ModelDir::open(&scratch.out()).unwrap();
    assert_eq!(dir.pooling, Pooling::Mean);
    assert_eq!(dir.prompts.query, "query: ");
    assert_eq!(dir.prompts.passage, "passage: ");
    let enc = BertEncoder::load(&dir).unwrap();
    let v = enc.embed(&["ab", "ba b"]).unwrap();
    assert_eq!(v[0].len(), 32);
    for x in &v {
        let norm = x.iter().map(|a| a * a).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
}

#[test]
fn tokenizer_json_segments_like_e5c_with_bos_and_eos_around() {
    let scratch = Scratch::with(&Synth::tiny().write().bytes);
    scratch.import().unwrap();
    let tok = Tokenizer::from_file(scratch.out().join("tokenizer.json")).unwrap();
    let ids = |text: &str| tok.encode(text, true).unwrap().get_ids().to_vec();
    // "▁ab" (score -1) beats "▁a" + "b" (-5.5); the tab becomes a space, runs of spaces collapse.
    assert_eq!(ids("ab"), vec![0, 8, 2]);
    assert_eq!(ids("ab\t  b"), vec![0, 8, 9, 2]);
    // Deleted control character; an unknown character costs the lowest score minus 10.
    assert_eq!(ids("a\u{1}b"), vec![0, 8, 2]);
    assert_eq!(ids("x"), vec![0, 4, 3, 2]);
}

#[test]
fn q4_0_weights_dequantise_low_nibbles_first_then_high_minus_eight() {
    let synth = Synth::tiny();
    let scratch = Scratch::with(&synth.write().bytes);
    scratch.import().unwrap();
    let bytes = std::fs::read(scratch.out().join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let word = st.tensor("embeddings.word_embeddings.weight").unwrap();
    assert_eq!(word.shape(), &[synth.vocab_size, synth.hidden]);
    let got = f32s(word.data());
    // emb.word is tensor 0 in the file, so its blocks use seed 0.
    for k in 0..synth.vocab_size * synth.hidden / 32 {
        let qs = q4_nibbles(0, k);
        for j in 0..16 {
            let lo = (f32::from(qs[j] & 0x0f) - 8.0) * SCALE;
            let hi = (f32::from(qs[j] >> 4) - 8.0) * SCALE;
            assert_eq!(
                (got[k * 32 + j], got[k * 32 + j + 16]),
                (lo, hi),
                "block {k}, byte {j}"
            );
        }
    }
    let fi = st.tensor("encoder.layer.0.intermediate.dense.weight").unwrap();
    assert_eq!(
        fi.shape(),
        &[synth.ff, synth.hidden],
        "stored [out, in] like Hugging Face"
    );
}

#[test]
fn position_rows_are_copied_as_they_are_row_zero_for_bos() {
    let synth = Synth::tiny();
    let scratch = Scratch::with(&synth.write().bytes);
    scratch.import().unwrap();
    let bytes = std::fs::read(scratch.out().join("model.safetensors")).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    let pos = st.tensor("embeddings.position_embeddings.weight").unwrap();
    assert_eq!(pos.shape(), &[synth.positions, synth.hidden]);
    assert_eq!(
        pos.data(),
        tensor_bytes("emb.pos", 0, synth.positions * synth.hidden, 1).as_slice()
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(scratch.out().join("config.json")).unwrap()).unwrap();
    assert_eq!(config["model_type"], "bert");
    assert_eq!(config["max_position_embeddings"], synth.positions);
    assert_eq!(config["pad_token_id"], 1);
}

#[test]
fn a_second_import_of_the_same_file_writes_nothing() {
    let scratch = Scratch::with(&Synth::tiny().write().bytes);
    scratch.import().unwrap();
    let weights = scratch.out().join("model.safetensors");
    let before = std::fs::metadata(&weights).unwrap().modified().unwrap();
    assert!(matches!(
        scratch.import().unwrap(),
        ImportOutcome::AlreadyPresent { .. }
    ));
    assert_eq!(std::fs::metadata(&weights).unwrap().modified().unwrap(), before);
}

#[test]
fn a_folder_imported_from_another_file_is_refused() {
    let scratch = Scratch::with(&Synth::tiny().write().bytes);
    scratch.import().unwrap();
    let mut other = Synth::tiny();
    other.pieces[9].1 = -2.0;
    std::fs::write(scratch.packed(), other.write().bytes).unwrap();
    let err = scratch.import().unwrap_err();
    assert!(matches!(err, ImportError::OutputDiffers { .. }), "{err}");
    assert!(err.to_string().contains("imported from another file"), "{err}");
}

#[test]
fn an_existing_incomplete_folder_is_refused_and_left_alone() {
    let scratch = Scratch::with(&Synth::tiny().write().bytes);
    std::fs::create_dir(scratch.out()).unwrap();
    std::fs::write(scratch.out().join("config.json"), "{}").unwrap();
    let err = scratch.import().unwrap_err();
    assert!(matches!(err, ImportError::OutputIncomplete { .. }), "{err}");
    assert!(err.to_string().contains("missing model.safetensors"), "{err}");
    assert_eq!(
        std::fs::read_to_string(scratch.out().join("config.json")).unwrap(),
        "{}"
    );
}

#[test]
fn rejects_a_file_with_another_magic() {
    let err = import_damaged(|f| f.bytes[..4].copy_from_slice(b"GGUF"));
    assert!(matches!(err, ImportError::BadMagic { .. }), "{err}");
    assert!(err.to_string().contains("47 47 55 46"), "{err}");
}

#[test]
fn rejects_a_truncated_header() {
    let err = import_damaged(|f| f.bytes.truncate(30));
    let ImportError::Truncated { what, len, .. } = &err else {
        panic!("expected Truncated, got {err}");
    };
    assert_eq!((what.as_str(), *len), ("header", 30));
}

#[test]
fn rejects_a_file_cut_inside_its_last_tensor() {
    let err = import_damaged(|f| {
        let n = f.bytes.len();
        f.bytes.truncate(n - 10);
    });
    let ImportError::TensorPastEnd { name, .. } = &err else {
        panic!("expected TensorPastEnd, got {err}");
    };
    assert_eq!(name, "l0.oln.b");
    assert!(err.to_string().contains("lies past the end of the file"), "{err}");
}

#[test]
fn rejects_a_tensor_whose_offset_points_past_the_end() {
    let err = import_damaged(|f| {
        let at = f.offset_field["l0.q.w"];
        patch_u64(&mut f.bytes, at, u64::MAX - 8);
    });
    assert!(
        matches!(&err, ImportError::TensorPastEnd { name, .. } if name == "l0.q.w"),
        "{err}"
    );
}

#[test]
fn rejects_tensors_that_do_not_match_the_header_dimensions() {
    // The header claims a wider feed-forward layer than the tensors hold.
    let err = import_damaged(|f| patch_i32(&mut f.bytes, FF_AT, 96));
    let ImportError::TensorShape { name, expected, .. } = &err else {
        panic!("expected TensorShape, got {err}");
    };
    assert_eq!(name, "l0.fi.w");
    assert!(expected.contains("96×32"), "{err}");
}

#[test]
fn rejects_nonsense_dimensions_in_the_header() {
    let err = import_damaged(|f| patch_i32(&mut f.bytes, HIDDEN_AT, -384));
    assert!(
        matches!(&err, ImportError::Header { field: "hidden", .. }),
        "{err}"
    );
    let err = import_damaged(|f| patch_i32(&mut f.bytes, LAYERS_AT, 1 << 30));
    assert!(
        matches!(&err, ImportError::Header { field: "layers", .. }),
        "{err}"
    );
}

#[test]
fn a_lying_piece_count_runs_out_of_bytes_before_anything_is_allocated() {
    let err = import_damaged(|f| {
        patch_i32(&mut f.bytes, VOCAB_SIZE_AT, 4_000_000);
        patch_i32(&mut f.bytes, N_PIECES_AT, 4_000_000);
    });
    assert!(
        matches!(&err, ImportError::Truncated { what, .. } if what == "vocabulary offsets"),
        "{err}"
    );
}

#[test]
fn rejects_a_missing_tensor() {
    let err = import_damaged(|f| {
        // Rename `emb.pos` in the directory to `emb.poz`.
        let at = f.offset_field["emb.pos"] - 4 - 1 - 1;
        f.bytes[at] = b'z';
    });
    assert!(
        matches!(&err, ImportError::TensorMissing { name, .. } if name == "emb.pos"),
        "{err}"
    );
}

#[test]
fn rejects_a_non_finite_q4_scale() {
    let err = import_damaged(|f| {
        let at = f.offset_field["l0.k.w"];
        let data = u64::from_le_bytes(f.bytes[at..at + 8].try_into().unwrap()) as usize;
        f.bytes[data..data + 2].copy_from_slice(&0x7C00u16.to_le_bytes()); // +inf
    });
    assert!(
        matches!(&err, ImportError::TensorValues { name, .. } if name == "l0.k.w"),
        "{err}"
    );
}

#[test]
fn rejects_a_vocabulary_with_a_piece_twice() {
    let mut synth = Synth::tiny();
    synth.pieces[9].0 = "▁a";
    let scratch = Scratch::with(&synth.write().bytes);
    let err = scratch.import().unwrap_err();
    assert!(matches!(err, ImportError::Vocabulary { index: 9, .. }), "{err}");
    assert!(err.to_string().contains("appears twice"), "{err}");
}

#[test]
fn rejects_an_unsorted_normalisation_table() {
    let mut synth = Synth::tiny();
    synth.norm.reverse();
    let scratch = Scratch::with(&synth.write().bytes);
    let err = scratch.import().unwrap_err();
    assert!(
        matches!(err, ImportError::Normalization { index: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("must be sorted"), "{err}");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let err = import_packed_model(&dir.path().join("nope.bin"), &dir.path().join("m")).unwrap_err();
    assert!(matches!(err, ImportError::Read { .. }), "{err}");
    assert!(err.to_string().contains("nope.bin"), "{err}");
    assert!(!Path::new(&dir.path().join("m")).exists());
}

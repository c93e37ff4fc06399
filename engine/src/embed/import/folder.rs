//! Writing a BERT sentence-transformers model folder: all of it, or nothing.
//!
//! The folder is what [`ModelDir`](crate::embed::ModelDir) and
//! [`BertEncoder`](crate::embed::BertEncoder) load, and what sentence-transformers
//! itself reads: `config.json` (a plain BERT), `model.safetensors` (f32),
//! `tokenizer.json`, `1_Pooling/config.json` (mean pooling), `modules.json`,
//! `sentence_bert_config.json`, `config_sentence_transformers.json` (E5's
//! `query: ` / `passage: ` prompts), plus `kefu-import.json` saying which file
//! it came from.
//!
//! Every file is written into a hidden staging directory beside the target and
//! fsynced; the directory is then renamed into place and its parent fsynced. A
//! crash leaves no folder or a complete one — at worst a hidden
//! `.NAME.import-PID` directory to delete.

use super::ImportError;
use super::e5s1::Dims;
use safetensors::{Dtype, View};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use tokenizers::Tokenizer;

/// Where the folder records the file it was imported from.
pub const PROVENANCE: &str = "kefu-import.json";
/// The weights file, whose size the import reports.
const WEIGHTS: &str = "model.safetensors";
/// Every file a finished import holds; a folder missing one is not complete.
pub const FILES: &[&str] = &[
    "config.json",
    WEIGHTS,
    "tokenizer.json",
    "tokenizer_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "config_sentence_transformers.json",
    "1_Pooling/config.json",
    PROVENANCE,
];

/// Which packed file a folder was made from, by which importer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Packed format, e.g. `E5S1 v1`.
    pub format: String,
    /// File name of the packed model.
    pub source: String,
    pub source_sha256: String,
    /// `kefu-engine <version>`.
    pub importer: String,
}

/// One f32 weight, produced only when the safetensors writer reaches it.
pub struct Weight<'a> {
    pub name: String,
    pub shape: Vec<usize>,
    /// Little-endian f32 bytes, `shape.product() * 4` of them.
    pub bytes: Box<dyn Fn() -> Vec<u8> + 'a>,
}

impl View for Weight<'_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Owned((self.bytes)())
    }
    fn data_len(&self) -> usize {
        self.shape.iter().product::<usize>() * 4
    }
}

/// Ids the model config names.
pub struct SpecialIds {
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
}

/// Everything a folder is written from.
pub struct BertFolder<'a> {
    pub dims: &'a Dims,
    pub special: SpecialIds,
    pub tokenizer: &'a Tokenizer,
    /// Prefixes by role, e.g. `("query", "query: ")`.
    pub prompts: &'a [(&'a str, &'a str)],
    pub provenance: Provenance,
    pub weights: Vec<Weight<'a>>,
}

/// What is at the target path before an import.
#[derive(Debug)]
pub enum Existing {
    Absent,
    Complete(Provenance),
    Incomplete(String),
}

/// Looks at `out` without changing it.
pub fn existing(out: &Path) -> Existing {
    match fs::metadata(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Existing::Absent,
        Err(e) => return Existing::Incomplete(format!("cannot be read: {e}")),
        Ok(m) if !m.is_dir() => return Existing::Incomplete("it is not a directory".into()),
        Ok(_) => {}
    }
    let missing: Vec<&str> = FILES.iter().copied().filter(|f| !out.join(f).is_file()).collect();
    if !missing.is_empty() {
        return Existing::Incomplete(format!("missing {}", missing.join(", ")));
    }
    let provenance = fs::read(out.join(PROVENANCE))
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<Provenance>(&b).map_err(|e| e.to_string()));
    match provenance {
        Ok(p) => Existing::Complete(p),
        Err(e) => Existing::Incomplete(format!("{PROVENANCE} is unreadable: {e}")),
    }
}

/// Writes the folder at `out` atomically; returns the size of `model.safetensors` in bytes.
pub fn write(out: &Path, folder: BertFolder) -> Result<u64, ImportError> {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = out
        .file_name()
        .ok_or_else(|| write_err(out, std::io::Error::other("the output path has no folder name")))?;
    fs::create_dir_all(&parent).map_err(|e| write_err(&parent, e))?;
    let staging = Staging::create(parent.join(format!(
        ".{}.import-{}",
        name.to_string_lossy(),
        std::process::id()
    )))?;
    let dir = staging.path.clone();

    let d = folder.dims;
    let config = json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": d.vocab_size,
        "hidden_size": d.hidden,
        "num_hidden_layers": d.layers,
        "num_attention_heads": d.heads,
        "intermediate_size": d.intermediate,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        // Positions count from 0 like BERT's: see the position note in e5s1.rs.
        "max_position_embeddings": d.max_positions,
        "position_embedding_type": "absolute",
        "type_vocab_size": d.type_vocab_size,
        "initializer_range": 0.02,
        "layer_norm_eps": shortest_f64(d.layer_norm_eps),
        "pad_token_id": folder.special.pad,
        "bos_token_id": folder.special.bos,
        "eos_token_id": folder.special.eos,
        "torch_dtype": "float32",
    });
    let piece = |id: u32| folder.tokenizer.id_to_token(id).unwrap_or_default();
    let tokenizer_config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": piece(folder.special.bos),
        "cls_token": piece(folder.special.bos),
        "eos_token": piece(folder.special.eos),
        "sep_token": piece(folder.special.eos),
        "pad_token": piece(folder.special.pad),
        "unk_token": piece(folder.special.unk),
        "model_max_length": d.max_positions,
    });
    let modules = json!([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]);
    let pooling = json!({
        "word_embedding_dimension": d.hidden,
        "pooling_mode_cls_token": false,
        "pooling_mode_mean_tokens": true,
        "pooling_mode_max_tokens": false,
        "pooling_mode_mean_sqrt_len_tokens": false,
    });
    let prompts: serde_json::Map<String, serde_json::Value> = folder
        .prompts
        .iter()
        .map(|(role, prefix)| (role.to_string(), json!(prefix)))
        .collect();
    let st_config = json!({ "prompts": prompts, "default_prompt_name": null });
    let sbert = json!({ "max_seq_length": d.max_positions, "do_lower_case": false });

    let tokenizer_json = folder
        .tokenizer
        .to_string(false)
        .map_err(|e| write_err(&dir.join("tokenizer.json"), std::io::Error::other(e.to_string())))?;
    fs::create_dir(dir.join("1_Pooling")).map_err(|e| write_err(&dir.join("1_Pooling"), e))?;
    write_file(&dir.join("tokenizer.json"), tokenizer_json.as_bytes())?;
    for (file, value) in [
        ("config.json", &config),
        ("tokenizer_config.json", &tokenizer_config),
        ("modules.json", &modules),
        ("sentence_bert_config.json", &sbert),
        ("config_sentence_transformers.json", &st_config),
        ("1_Pooling/config.json", &pooling),
    ] {
        write_json(&dir.join(file), value)?;
    }

    let weights_path = dir.join(WEIGHTS);
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let named = folder.weights.into_iter().map(|w| (w.name.clone(), w));
    safetensors::serialize_to_file(named, Some(metadata), &weights_path)
        .map_err(|e| write_err(&weights_path, std::io::Error::other(e.to_string())))?;
    // The safetensors writer goes through a 0600 temporary file; give it the mode of its siblings.
    let sibling = fs::metadata(dir.join("tokenizer.json")).map_err(|e| write_err(&dir, e))?;
    fs::set_permissions(&weights_path, sibling.permissions()).map_err(|e| write_err(&weights_path, e))?;
    sync_file(&weights_path)?;
    let weights_bytes = fs::metadata(&weights_path)
        .map_err(|e| write_err(&weights_path, e))?
        .len();

    // Provenance last: a folder that has it has everything else.
    let provenance = serde_json::to_value(&folder.provenance).expect("provenance is plain data");
    write_json(&dir.join(PROVENANCE), &provenance)?;
    sync_dir(&dir.join("1_Pooling"))?;
    sync_dir(&dir)?;
    fs::rename(&dir, out).map_err(|e| write_err(out, e))?;
    staging.done();
    sync_dir(&parent)?;
    Ok(weights_bytes)
}

/// The f32 epsilon as its shortest decimal (1e-12, not 9.999999960041972e-13).
fn shortest_f64(x: f32) -> f64 {
    format!("{x:e}").parse().unwrap_or(f64::from(x))
}

fn write_err(path: &Path, source: std::io::Error) -> ImportError {
    ImportError::Write {
        path: path.to_path_buf(),
        source,
    }
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), ImportError> {
    let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
    text.push('\n');
    write_file(path, text.as_bytes())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), ImportError> {
    let mut f = File::create(path).map_err(|e| write_err(path, e))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| write_err(path, e))
}

fn sync_file(path: &Path) -> Result<(), ImportError> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| write_err(path, e))
}

fn sync_dir(path: &Path) -> Result<(), ImportError> {
    File::open(path)
        .and_then(|d| d.sync_all())
        .map_err(|e| write_err(path, e))
}

/// The staging directory, removed again unless the import got as far as renaming it.
struct Staging {
    path: PathBuf,
    renamed: bool,
}

impl Staging {
    fn create(path: PathBuf) -> Result<Self, ImportError> {
        // A directory of this name is a crashed import by this very process id: stale.
        if path.exists() {
            fs::remove_dir_all(&path).map_err(|e| write_err(&path, e))?;
        }
        fs::create_dir(&path).map_err(|e| write_err(&path, e))?;
        Ok(Self { path, renamed: false })
    }

    fn done(mut self) {
        self.renamed = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

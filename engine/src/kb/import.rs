//! Reading articles from JSON Lines or CSV, with errors that name file and line.

use super::{Article, KbError, Variant, same_language};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What an import produced: the articles, and the bad lines skipped with `skip_bad`.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub articles: Vec<Article>,
    /// One message per skipped line ("file:line: reason"); empty unless `skip_bad`.
    pub skipped: Vec<String>,
}

/// Imports a `.jsonl`/`.json` (one article per line) or `.csv` (one question per row) file.
///
/// Without `skip_bad`, the first bad line aborts with its file and line; with
/// it, bad lines are counted in [`ImportReport::skipped`] and the rest import.
pub fn import_file(path: &Path, skip_bad: bool) -> Result<ImportReport, KbError> {
    let bytes = std::fs::read(path).map_err(|e| KbError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    import_bytes(path, &bytes, skip_bad)
}

/// [`import_file`] on bytes already read: `path` picks the format by its
/// extension and names the file in errors (the fuzz targets feed bytes here).
pub fn import_bytes(path: &Path, bytes: &[u8], skip_bad: bool) -> Result<ImportReport, KbError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let mut sink = Sink::new(path, skip_bad);
    match ext.as_str() {
        "jsonl" | "json" | "ndjson" => import_jsonl(bytes, &mut sink)?,
        "csv" => import_csv(bytes, &mut sink)?,
        _ => {
            return Err(KbError::UnknownFormat {
                path: path.to_path_buf(),
            });
        }
    }
    sink.finish()
}

/// Collects articles in file order, merging and checking duplicates.
struct Sink {
    path: PathBuf,
    skip_bad: bool,
    articles: Vec<Article>,
    by_id: HashMap<String, usize>,
    skipped: Vec<String>,
}

impl Sink {
    fn new(path: &Path, skip_bad: bool) -> Self {
        Self {
            path: path.to_path_buf(),
            skip_bad,
            articles: Vec::new(),
            by_id: HashMap::new(),
            skipped: Vec::new(),
        }
    }

    /// Records a bad line: an error, or a counted warning with `skip_bad`.
    fn bad(&mut self, line: usize, reason: String) -> Result<(), KbError> {
        let err = KbError::Invalid {
            path: self.path.clone(),
            line,
            reason,
        };
        if self.skip_bad {
            tracing::warn!("{err}");
            self.skipped.push(err.to_string());
            Ok(())
        } else {
            Err(err)
        }
    }

    /// Adds an article; `merge` lets CSV rows with the same id add questions to one article.
    fn add(&mut self, line: usize, article: Article, merge: bool) -> Result<(), KbError> {
        if let Err(reason) = check(&article) {
            return self.bad(line, reason);
        }
        match self.by_id.get(&article.id) {
            None => {
                self.by_id.insert(article.id.clone(), self.articles.len());
                self.articles.push(article);
                Ok(())
            }
            Some(&i) => {
                let id = article.id.clone();
                if !merge {
                    return self.bad(line, format!("duplicate id {id:?}"));
                }
                let existing = &mut self.articles[i];
                // A CSV row in another locale than the article's first row is a variant.
                let other_locale = match (&existing.locale, &article.locale) {
                    (Some(base), Some(l)) if !same_language(base, l) => Some(l.clone()),
                    _ => None,
                };
                if let Some(locale) = other_locale {
                    let variant = existing
                        .variants
                        .entry(locale.clone())
                        .or_insert_with(|| Variant {
                            title: article.title.clone(),
                            answer: article.answer.clone(),
                            questions: Vec::new(),
                        });
                    if variant.answer != article.answer {
                        return self.bad(
                            line,
                            format!("duplicate id {id:?} in locale {locale:?} with a different answer"),
                        );
                    }
                    merge_list(&mut variant.questions, article.questions);
                    return Ok(());
                }
                if existing.answer != article.answer {
                    return self.bad(line, format!("duplicate id {id:?} with a different answer"));
                }
                merge_list(&mut existing.questions, article.questions);
                merge_list(&mut existing.markets, article.markets);
                merge_list(&mut existing.tags, article.tags);
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<ImportReport, KbError> {
        if self.articles.is_empty() {
            return Err(KbError::Empty { path: self.path });
        }
        Ok(ImportReport {
            articles: self.articles,
            skipped: self.skipped,
        })
    }
}

fn merge_list(into: &mut Vec<String>, from: Vec<String>) {
    for v in from {
        if !into.contains(&v) {
            into.push(v);
        }
    }
}

/// The rules every article obeys, whatever file it came from.
fn check(a: &Article) -> Result<(), String> {
    if a.id.trim().is_empty() {
        return Err("field `id` is empty".into());
    }
    if a.answer.trim().is_empty() {
        return Err(format!("article {:?}: field `answer` is empty", a.id));
    }
    if a.questions.is_empty() && a.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
        return Err(format!(
            "article {:?}: needs at least one of `questions` or `title`",
            a.id
        ));
    }
    if let Some(i) = a.questions.iter().position(|q| q.trim().is_empty()) {
        return Err(format!("article {:?}: question {} is empty", a.id, i + 1));
    }
    for (name, v) in [("category", &a.category), ("locale", &a.locale)] {
        if v.as_deref().is_some_and(|s| s.trim().is_empty()) {
            return Err(format!("article {:?}: field `{name}` is empty", a.id));
        }
    }
    check_variants(&a.id, a.locale.as_deref(), &a.variants)
}

/// Each variant has a locale other than the base one, an answer, and something to match.
fn check_variants(id: &str, base: Option<&str>, variants: &BTreeMap<String, Variant>) -> Result<(), String> {
    for (locale, v) in variants {
        if locale.trim().is_empty() {
            return Err(format!("article {id:?}: a variant has an empty locale"));
        }
        if base.is_some_and(|b| same_language(b, locale)) {
            return Err(format!(
                "article {id:?}: variant {locale:?} repeats the article's own locale"
            ));
        }
        if v.answer.trim().is_empty() {
            return Err(format!(
                "article {id:?}: variant {locale:?} has an empty `answer`"
            ));
        }
        if v.questions.is_empty() && v.title.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(format!(
                "article {id:?}: variant {locale:?} needs at least one of `questions` or `title`"
            ));
        }
        if let Some(i) = v.questions.iter().position(|q| q.trim().is_empty()) {
            return Err(format!(
                "article {id:?}: variant {locale:?} question {} is empty",
                i + 1
            ));
        }
    }
    Ok(())
}

fn import_jsonl(bytes: &[u8], sink: &mut Sink) -> Result<(), KbError> {
    for (i, raw) in bytes.split(|&b| b == b'\n').enumerate() {
        let line = i + 1;
        let Ok(text) = std::str::from_utf8(raw) else {
            sink.bad(line, "invalid UTF-8".into())?;
            continue;
        };
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Article>(text) {
            Ok(article) => sink.add(line, article, false)?,
            Err(e) => sink.bad(line, format!("invalid article: {e}"))?,
        }
    }
    Ok(())
}

/// CSV: header row names columns; `id`, `answer` and `question` (or `title`) are
/// required; `markets` and `tags` are `;`-separated. Rows with one id merge; a row
/// whose `locale` differs from the article's first row adds to that locale's variant.
fn import_csv(bytes: &[u8], sink: &mut Sink) -> Result<(), KbError> {
    let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
    let headers = match reader.byte_headers() {
        Ok(h) => h.clone(),
        Err(e) => return sink.bad(1, format!("cannot read the header row: {e}")),
    };
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name.as_bytes()))
    };
    let (Some(id_col), Some(answer_col)) = (col("id"), col("answer")) else {
        return Err(KbError::Invalid {
            path: sink.path.clone(),
            line: 1,
            reason: "the header needs `id` and `answer` columns".into(),
        });
    };
    let question_col = col("question");
    let title_col = col("title");
    if question_col.is_none() && title_col.is_none() {
        return Err(KbError::Invalid {
            path: sink.path.clone(),
            line: 1,
            reason: "the header needs a `question` or `title` column".into(),
        });
    }
    let (category_col, locale_col, markets_col, tags_col) =
        (col("category"), col("locale"), col("markets"), col("tags"));
    for record in reader.byte_records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line() as usize).unwrap_or(0);
                sink.bad(line, format!("invalid CSV row: {e}"))?;
                continue;
            }
        };
        let line = record.position().map(|p| p.line() as usize).unwrap_or(0);
        let mut fields = Vec::with_capacity(record.len());
        let mut utf8_ok = true;
        for f in record.iter() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s.trim().to_string()),
                Err(_) => utf8_ok = false,
            }
        }
        if !utf8_ok {
            sink.bad(line, "invalid UTF-8".into())?;
            continue;
        }
        let get = |c: Option<usize>| c.map(|c| fields[c].clone()).filter(|s| !s.is_empty());
        let list = |c: Option<usize>| {
            get(c)
                .map(|s| {
                    s.split(';')
                        .map(|v| v.trim().to_string())
                        .filter(|v| !v.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let question = question_col.map(|c| fields[c].clone());
        if question.as_deref() == Some("") && get(title_col).is_none() {
            sink.bad(line, "question is empty".into())?;
            continue;
        }
        let article = Article {
            id: fields[id_col].clone(),
            title: get(title_col),
            answer: fields[answer_col].clone(),
            questions: question.filter(|q| !q.is_empty()).into_iter().collect(),
            category: get(category_col),
            locale: get(locale_col),
            markets: list(markets_col),
            tags: list(tags_col),
            variants: BTreeMap::new(),
        };
        sink.add(line, article, true)?;
    }
    Ok(())
}

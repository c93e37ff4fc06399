//! Damaged index versions: a small valid version is built once (synthetic
//! unit vectors, no model); each input picks one of its files and damages it,
//! then the version is opened, searched (filtered and not), resolved against
//! and verified.
//!
//! Input: file selector byte (an index into [`FILES`]), flags byte (bit 0:
//! the rest of the input replaces the file; bit 1: rewrite each file's size
//! and sha256 in manifest.json afterwards, as an attacker would, so damage
//! gets past the checksums), then — unless replaced — damage operations until
//! the input ends (see [`damage`]).

use super::{EXTREMES, Input};
use crate::embed::ModelId;
use crate::index::build::stage_with_graph;
use crate::index::format::{CURRENT, DATA_FILES, MANIFEST};
use crate::index::graph::FlatGraph;
use crate::index::search::Vectors;
use crate::index::{BuildParams, Corpus, Field, Filter, Index, Manifest};
use crate::kb::{Article, Variant};
use crate::resolve::{Answerer, CalibrationParams, Inquiry, language};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::sync::OnceLock;

/// The files of a version an input can damage: the manifest, then the data files.
pub const FILES: [&str; 6] = [
    MANIFEST,
    DATA_FILES[0],
    DATA_FILES[1],
    DATA_FILES[2],
    DATA_FILES[3],
    DATA_FILES[4],
];

/// Damage never grows a file past this: the version is tiny, and a bigger file
/// only costs the fuzzer time.
const MAX_FILE: usize = 1 << 20;
/// Dimension of the synthetic vectors.
const DIM: usize = 16;
/// Articles in the base version (two or three points each).
const ARTICLES: usize = 24;
/// The version directory's name under the root.
const VERSION: &str = "v1";

const FLAG_REPLACE: u8 = 1;
const FLAG_RESEAL: u8 = 2;

/// Replacement seeds (each file as built, resealed) and one seed per attack of issue #13.
pub fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, (name, bytes)) in base().iter().enumerate() {
        let mut input = vec![i as u8, FLAG_REPLACE | FLAG_RESEAL];
        input.extend_from_slice(bytes);
        out.push((format!("replace-{name}"), input));
    }
    let postings = FILES.iter().position(|&f| f == DATA_FILES[4]).unwrap_or(0) as u8;
    // A posting id far past the last point, checksums rewritten to match.
    out.push((
        "posting-past-end".into(),
        vec![postings, FLAG_RESEAL, 4, 64, 0, 0, 0, 6],
    ));
    // Every numeric manifest field outside the calibration in turn set to
    // u64::MAX (offsets, counts, sizes), and the graph's top layer with its header.
    let paths = leaf_paths(&base()[0].1);
    for (i, path) in paths.iter().enumerate() {
        if !path.starts_with("calibration.") && i <= u8::MAX as usize {
            out.push((
                format!("manifest-max-{path}"),
                vec![0, FLAG_RESEAL, 5, i as u8, 9],
            ));
        }
    }
    if let Some(i) = paths.iter().position(|p| p == "graph.max_level") {
        let graph = FILES.iter().position(|&f| f == DATA_FILES[1]).unwrap_or(0) as u8;
        out.push((
            "max-level-huge".into(),
            vec![graph, FLAG_RESEAL, 3, 40, 0, 0, 0, 8, 5, i as u8, 8],
        ));
    }
    // Each data file's header counts set to extremes, truncated, extended.
    for f in 1..FILES.len() as u8 {
        out.push((
            format!("header-{f}"),
            vec![f, FLAG_RESEAL, 3, 16, 0, 0, 0, 9, 3, 40, 0, 0, 0, 6],
        ));
        out.push((format!("truncate-{f}"), vec![f, FLAG_RESEAL, 1, 100, 0, 0, 0]));
        out.push((format!("extend-{f}"), vec![f, FLAG_RESEAL, 2, 64, 0, 0xff]));
    }
    out
}

/// Damages one file of the base version as the input says, then opens and uses it.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let which = input.u8() as usize % FILES.len();
    let flags = input.u8();
    let mut files: Vec<(&str, Vec<u8>)> = base().iter().map(|(n, b)| (*n, b.clone())).collect();
    if flags & FLAG_REPLACE != 0 {
        files[which].1 = input.rest().to_vec();
    } else {
        damage(&mut files, which, &mut input);
    }
    if flags & FLAG_RESEAL != 0 {
        reseal(&mut files);
    }
    let Ok(root) = tempfile::tempdir() else {
        return;
    };
    if write_version(root.path(), &files).is_err() {
        return;
    }
    if let Ok(index) = Index::open(root.path()) {
        exercise(&index);
    }
}

/// Applies damage operations to `files[which]` until the input ends. Each
/// starts with an op byte: 0 overwrite bytes at an offset, 1 truncate, 2 extend,
/// 3/4 set a u64/u32 at an aligned offset to an extreme value, 5 set a numeric
/// field of manifest.json to an extreme value.
fn damage(files: &mut [(&str, Vec<u8>)], which: usize, input: &mut Input) {
    while !input.is_empty() {
        let file = &mut files[which].1;
        let len = file.len();
        match input.u8() % 6 {
            0 => {
                let at = input.u32() as usize % (len + 1);
                let n = input.u8() as usize;
                let bytes = input.take(n);
                let bytes = &bytes[..bytes.len().min(MAX_FILE.saturating_sub(at))];
                let end = at + bytes.len();
                if file.len() < end {
                    file.resize(end, 0);
                }
                file[at..end].copy_from_slice(bytes);
            }
            1 => {
                let at = input.u32() as usize % (len + 1);
                file.truncate(at);
            }
            2 => {
                let n = input.u16() as usize;
                let fill = input.u8();
                file.resize((len + n).min(MAX_FILE), fill);
            }
            op @ (3 | 4) => {
                let width = if op == 3 { 8 } else { 4 };
                let at = (input.u32() as usize % len.max(1)) / width * width;
                let value = EXTREMES[input.u8() as usize % EXTREMES.len()];
                if let Some(slot) = file.get_mut(at..at + width) {
                    slot.copy_from_slice(&value.to_le_bytes()[..width]);
                }
            }
            _ => {
                let field = input.u8() as usize;
                let value = EXTREMES[input.u8() as usize % EXTREMES.len()];
                set_manifest_number(&mut files[0].1, field, value);
            }
        }
    }
}

/// Sets the `field`-th numeric leaf of manifest.json (modulo their count) to `value`.
fn set_manifest_number(manifest: &mut Vec<u8>, field: usize, value: u64) {
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(manifest) else {
        return;
    };
    let mut leaves = Vec::new();
    numeric_leaves(&mut json, &mut leaves);
    let count = leaves.len();
    if let Some(leaf) = leaves.into_iter().nth(field % count.max(1)) {
        *leaf = value.into();
    }
    if let Ok(bytes) = serde_json::to_vec(&json) {
        *manifest = bytes;
    }
}

/// Dotted paths of manifest.json's numeric leaves, in the order [`numeric_leaves`] visits them.
fn leaf_paths(manifest: &[u8]) -> Vec<String> {
    fn walk(v: &serde_json::Value, path: String, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Number(_) => out.push(path),
            serde_json::Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    walk(x, format!("{path}.{i}"), out);
                }
            }
            serde_json::Value::Object(map) => {
                for (k, x) in map {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(x, p, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(manifest) {
        walk(&json, String::new(), &mut out);
    }
    out
}

fn numeric_leaves<'v>(v: &'v mut serde_json::Value, out: &mut Vec<&'v mut serde_json::Value>) {
    match v {
        serde_json::Value::Number(_) => out.push(v),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|i| numeric_leaves(i, out)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|i| numeric_leaves(i, out)),
        _ => {}
    }
}

/// Rewrites each data file's size and sha256 in manifest.json to match the bytes.
fn reseal(files: &mut [(&str, Vec<u8>)]) {
    let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&files[0].1) else {
        return;
    };
    for (name, bytes) in files.iter().skip(1) {
        if let Some(entry) = json.get_mut("files").and_then(|f| f.get_mut(*name)) {
            entry["bytes"] = (bytes.len() as u64).into();
            entry["sha256"] = format!("{:x}", Sha256::digest(bytes)).into();
        }
    }
    if let Ok(bytes) = serde_json::to_vec(&json) {
        files[0].1 = bytes;
    }
}

fn write_version(root: &Path, files: &[(&str, Vec<u8>)]) -> std::io::Result<()> {
    let dir = root.join(VERSION);
    std::fs::create_dir(&dir)?;
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes)?;
    }
    std::fs::write(root.join(CURRENT), format!("{VERSION}\n"))
}

/// Everything a server or the CLI does with an opened version.
fn exercise(index: &Index) {
    let query: Vec<f32> = (0..index.dim())
        .map(|i| ((i * 7 + 3) % 11) as f32 - 5.0)
        .collect();
    let n = index.points();
    let filters = [
        None,
        Some(Filter::new().with(Field::Locale, ["en"])),
        Some(
            Filter::new()
                .with(Field::Locale, ["es", "de"])
                .with(Field::Market, ["EU"]),
        ),
        Some(Filter::new().with(Field::Tag, ["even"])),
        Some(Filter::new().with(Field::Category, ["c1", "nowhere"])),
    ];
    for f in &filters {
        for (k, ef) in [(3, 16), (n + 1, 4)] {
            if let Ok(hits) = index.search(&query, k, ef, f.as_ref()) {
                for h in hits {
                    let _ = index.resolve(&h);
                }
            }
        }
    }
    let _ = index.search_where(&query, 3, 16, &|p| p % 2 == 0);
    let _ = index.exact_points(&query, 5);
    let _ = index.graph_points(&query, 5, 16);
    let _ = index.article_index("a1");
    for field in Field::ALL {
        let _ = index.field_values(field);
    }
    let answerer = Answerer::new(index, 32);
    let lang = language::detect("where is my parcel", Some("en"));
    for filter in [Filter::new(), Filter::new().with(Field::Market, ["EU"])] {
        let inquiry = Inquiry {
            text: "where is my parcel",
            language: lang.as_ref(),
            filter,
            locale_first: true,
            suggestions: 3,
        };
        let _ = answerer.resolve(&query, &inquiry);
    }
    let _ = answerer.category(&query);
    let _ = index.verify();
}

/// The base version's files, in [`FILES`] order (built once per process).
fn base() -> &'static [(&'static str, Vec<u8>)] {
    static BASE: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    BASE.get_or_init(|| build_base().expect("the base index for fuzzing builds"))
}

fn build_base() -> Result<Vec<(&'static str, Vec<u8>)>, String> {
    let corpus = corpus();
    let graph = brute_force_graph(&corpus);
    let root = tempfile::tempdir().map_err(|e| e.to_string())?;
    let quiet = |_, _, _| {};
    let mut staged = stage_with_graph(
        root.path(),
        &corpus,
        graph,
        &BuildParams::default(),
        std::time::Instant::now(),
        &quiet,
    )
    .map_err(|e| e.to_string())?;
    staged
        .calibrate(&CalibrationParams::default(), &[])
        .map_err(|e| e.to_string())?;
    let dir = staged.commit().map_err(|e| e.to_string())?;
    let mut files: Vec<(&'static str, Vec<u8>)> = FILES
        .iter()
        .map(|&name| Ok((name, std::fs::read(dir.join(name)).map_err(|e| e.to_string())?)))
        .collect::<Result<_, String>>()?;
    // No clock in the bytes: the same build gives the same seeds.
    let mut manifest: Manifest = serde_json::from_slice(&files[0].1).map_err(|e| e.to_string())?;
    manifest.version = VERSION.into();
    manifest.created_unix = 0;
    manifest.build_seconds = 0.0;
    files[0].1 = serde_json::to_vec_pretty(&manifest).map_err(|e| e.to_string())?;
    Ok(files)
}

/// Articles in three locales with variants, categories, markets and tags, and
/// one deterministic unit vector per sample.
fn corpus() -> Corpus {
    let locales = ["en", "es", "de"];
    let articles: Vec<Article> = (0..ARTICLES)
        .map(|i| Article {
            id: format!("a{i}"),
            title: (i % 2 == 0).then(|| format!("Title {i}")),
            answer: format!("Answer {i}"),
            questions: vec![format!("question {i} one"), format!("question {i} two")],
            category: Some(format!("c{}", i % 3)),
            locale: Some(locales[i % 3].to_string()),
            markets: vec![["EU", "US", "UK"][i % 3].to_string()],
            tags: vec![if i % 2 == 0 { "even" } else { "odd" }.to_string()],
            variants: if i % 4 == 1 {
                [(
                    "zh".to_string(),
                    Variant {
                        title: None,
                        answer: format!("答案 {i}"),
                        questions: vec![format!("问题 {i}")],
                    },
                )]
                .into()
            } else {
                Default::default()
            },
        })
        .collect();
    let mut point_article = Vec::new();
    let mut point_question = Vec::new();
    for (a, art) in articles.iter().enumerate() {
        for q in 0..art.samples().count() {
            point_article.push(a as u32);
            point_question.push(q as u32);
        }
    }
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut vectors = Vec::with_capacity(point_article.len() * DIM);
    for _ in 0..point_article.len() {
        let row: Vec<f32> = (0..DIM)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect();
        let norm = row.iter().map(|x| x * x).sum::<f32>().sqrt();
        vectors.extend(row.iter().map(|x| x / norm));
    }
    Corpus {
        articles,
        dim: DIM,
        vectors,
        point_article,
        point_question,
        model: ModelId::f32("fuzz", "none", DIM),
        source: "fuzz".into(),
    }
}

/// An exact k-NN graph with every eighth node on layer 1: deterministic, unlike
/// hnsw_rs's parallel insert, so the committed seeds match what is built.
fn brute_force_graph(corpus: &Corpus) -> FlatGraph {
    let v = Vectors {
        data: &corpus.vectors,
        dim: corpus.dim,
    };
    let n = v.len() as u32;
    let levels: Vec<u8> = (0..n).map(|i| u8::from(i % 8 == 0)).collect();
    let mut g = FlatGraph::with_levels(levels, 8, 4);
    let nearest = |u: u32, among: &dyn Fn(u32) -> bool, k: usize| {
        let mut c: Vec<(f32, u32)> = (0..n)
            .filter(|&x| x != u && among(x))
            .map(|x| (v.score(v.row(u), x), x))
            .collect();
        c.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        c.into_iter().take(k).map(|(_, x)| x).collect::<Vec<_>>()
    };
    for u in 0..n {
        for (slot, x) in g.slots_mut(u, 0).iter_mut().zip(nearest(u, &|_| true, 8)) {
            *slot = x;
        }
        if u % 8 == 0 {
            for (slot, x) in g.slots_mut(u, 1).iter_mut().zip(nearest(u, &|x| x % 8 == 0, 4)) {
                *slot = x;
            }
        }
    }
    g
}

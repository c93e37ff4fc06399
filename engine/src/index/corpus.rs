//! The corpus a build indexes: one unit vector per sample question, each
//! pointing at its article, embedded from a KB or given as raw vectors.

use super::build::{Progress, Stage};
use super::format::TITLE_QUESTION;
use crate::embed::{CacheStats, EmbedCache, EmbedError, Encoder, ModelId, TextRole};
use crate::kb::Article;
use std::path::Path;

/// Vectors ready to index: one per sample question, each pointing at its article.
pub struct Corpus {
    pub articles: Vec<Article>,
    pub dim: usize,
    /// `points × dim`, unit length.
    pub vectors: Vec<f32>,
    pub point_article: Vec<u32>,
    /// Position in the article's [`Article::samples`], or [`TITLE_QUESTION`] for "the title".
    pub point_question: Vec<u32>,
    pub model: ModelId,
    pub source: String,
}

impl Corpus {
    /// Embeds every sample question of every article, batching texts of similar length.
    pub fn embed(
        articles: Vec<Article>,
        encoder: &dyn Encoder,
        batch: usize,
        source: &str,
        progress: Progress,
    ) -> Result<Self, EmbedError> {
        Self::embed_cached(articles, encoder, batch, source, progress, None)
    }

    /// [`Corpus::embed_cached`] through the cache kept under `dir`, saved afterwards. The
    /// cache only saves time: one that cannot be opened or saved is logged and skipped.
    pub fn embed_via_cache_dir(
        articles: Vec<Article>,
        encoder: &dyn Encoder,
        batch: usize,
        source: &str,
        progress: Progress,
        dir: &Path,
    ) -> Result<(Self, Option<CacheStats>), EmbedError> {
        let mut cache = match EmbedCache::open(dir, encoder.model_id()?) {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!("{e}; embedding without a cache");
                None
            }
        };
        let corpus = Self::embed_cached(articles, encoder, batch, source, progress, cache.as_mut())?;
        let stats = cache.map(|c| {
            if let Err(e) = c.save() {
                tracing::warn!("{e}; the next build embeds these questions again");
            }
            c.stats()
        });
        Ok((corpus, stats))
    }

    /// [`Corpus::embed`], taking the vectors `cache` already holds and adding the rest to
    /// it (the caller saves it): a rebuild embeds only the questions that changed.
    pub fn embed_cached(
        articles: Vec<Article>,
        encoder: &dyn Encoder,
        batch: usize,
        source: &str,
        progress: Progress,
        mut cache: Option<&mut EmbedCache>,
    ) -> Result<Self, EmbedError> {
        let mut texts: Vec<(&str, u32, u32)> = Vec::new();
        for (a, art) in articles.iter().enumerate() {
            for (q, sample) in art.samples().enumerate() {
                texts.push((sample.text, a as u32, q as u32));
            }
        }
        let dim = encoder.dim();
        let total = texts.len() as u64;
        let mut vectors = vec![0f32; texts.len() * dim];
        // Texts the cache knows are copied; the rest are embedded.
        let mut order: Vec<usize> = Vec::with_capacity(texts.len());
        for (i, t) in texts.iter().enumerate() {
            match cache.as_deref_mut().and_then(|c| c.get(TextRole::Query, t.0)) {
                Some(v) if v.len() == dim => vectors[i * dim..(i + 1) * dim].copy_from_slice(v),
                _ => order.push(i),
            }
        }
        let mut done = total - order.len() as u64;
        // Similar lengths in one batch waste less padding.
        order.sort_by_key(|&i| texts[i].0.len());
        for chunk in order.chunks(batch.max(1)) {
            let batch_texts: Vec<&str> = chunk.iter().map(|&i| texts[i].0).collect();
            let out = encoder.embed_as(TextRole::Query, &batch_texts)?;
            for (&i, v) in chunk.iter().zip(out) {
                vectors[i * dim..(i + 1) * dim].copy_from_slice(&v);
                if let Some(c) = cache.as_deref_mut() {
                    c.insert(TextRole::Query, texts[i].0, &v);
                }
            }
            done += chunk.len() as u64;
            progress(Stage::Embed, done, total);
        }
        if order.is_empty() {
            progress(Stage::Embed, total, total);
        }
        Ok(Self {
            dim,
            vectors,
            point_article: texts.iter().map(|t| t.1).collect(),
            point_question: texts.iter().map(|t| t.2).collect(),
            model: encoder.model_id()?.clone(),
            source: source.to_string(),
            articles,
        })
    }

    /// A corpus of raw vectors, one article per vector (synthetic benches, external embeddings).
    pub fn from_vectors(vectors: Vec<f32>, dim: usize, model: ModelId, source: &str) -> Self {
        let n = vectors.len() / dim;
        let articles = (0..n)
            .map(|i| Article {
                id: format!("p{i}"),
                title: None,
                answer: String::new(),
                questions: Vec::new(),
                category: None,
                locale: None,
                markets: Vec::new(),
                tags: Vec::new(),
                variants: Default::default(),
            })
            .collect();
        Self {
            articles,
            dim,
            vectors,
            point_article: (0..n as u32).collect(),
            point_question: vec![TITLE_QUESTION; n],
            model,
            source: source.to_string(),
        }
    }

    pub fn points(&self) -> usize {
        self.point_article.len()
    }
}

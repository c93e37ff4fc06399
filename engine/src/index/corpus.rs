//! The corpus a build indexes: one unit vector per sample question, each
//! pointing at its article, embedded from a KB or given as raw vectors.

use super::build::{Progress, Stage};
use super::format::TITLE_QUESTION;
use crate::embed::{EmbedError, Encoder, ModelId, TextRole};
use crate::kb::Article;

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
        let mut texts: Vec<(&str, u32, u32)> = Vec::new();
        for (a, art) in articles.iter().enumerate() {
            for (q, sample) in art.samples().enumerate() {
                texts.push((sample.text, a as u32, q as u32));
            }
        }
        // Similar lengths in one batch waste less padding.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| texts[i].0.len());
        let dim = encoder.dim();
        let total = texts.len() as u64;
        let mut vectors = vec![0f32; texts.len() * dim];
        for (done, chunk) in order.chunks(batch.max(1)).enumerate() {
            let batch_texts: Vec<&str> = chunk.iter().map(|&i| texts[i].0).collect();
            let out = encoder.embed_as(TextRole::Query, &batch_texts)?;
            for (&i, v) in chunk.iter().zip(out) {
                vectors[i * dim..(i + 1) * dim].copy_from_slice(&v);
            }
            progress(
                Stage::Embed,
                ((done * batch.max(1)) as u64 + chunk.len() as u64).min(total),
                total,
            );
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

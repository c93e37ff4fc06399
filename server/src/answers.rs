//! `kefu.v1.Answers`: each RPC converts the request, calls the engine, converts back.

use crate::config::MAX_EF;
use crate::deadline;
use crate::proto::answers_server::Answers;
use crate::proto::{
    AskRequest, AskResponse, EmbedRequest, EmbedResponse, FilterClause, Hit, SearchRequest, SearchResponse,
    Timings, Vector, search_request,
};
use crate::state::{AppState, EmbedFailure};
use kefu_engine::index::{Filter, Index, IndexError};
use kefu_engine::resolve::{Answerer, language, text};
use std::sync::Arc;
use std::time::Instant;
use tonic::{Request, Response, Status};

pub struct AnswersService {
    pub state: Arc<AppState>,
    /// Where handoff tickets are filed: this process's desk or the router replica.
    pub desk: crate::home::RoutingHome,
}

impl From<EmbedFailure> for Status {
    fn from(e: EmbedFailure) -> Self {
        match e {
            EmbedFailure::Busy(_) => Status::resource_exhausted(e.to_string()),
            EmbedFailure::Expired => Status::deadline_exceeded(e.to_string()),
            EmbedFailure::Encoder(_) | EmbedFailure::Stopped => Status::internal(e.to_string()),
        }
    }
}

pub(crate) fn index_status(e: IndexError) -> Status {
    match e {
        IndexError::InvalidQuery(_) | IndexError::Filter(_) => Status::invalid_argument(e.to_string()),
        _ => Status::internal(e.to_string()),
    }
}

impl AnswersService {
    /// Rejects an empty, over-long or content-free text (`what` names it in the message);
    /// returns it normalised, the form the cache, the encoder and the lexicons read.
    pub(crate) fn check_text(&self, what: &str, text: &str) -> Result<String, Status> {
        if text.trim().is_empty() {
            return Err(Status::invalid_argument(format!("{what} is empty")));
        }
        let chars = text.chars().count();
        let max = self.state.config.max_question_chars;
        if chars > max {
            return Err(Status::invalid_argument(format!(
                "{what} has {chars} characters; the limit is {max}"
            )));
        }
        let normalized = text::normalize(text);
        if !text::has_content(&normalized) {
            return Err(Status::invalid_argument(format!(
                "{what} has no letters or digits"
            )));
        }
        Ok(normalized)
    }

    /// A request's filter: its per-field lists (`locales`, …; an empty list is no clause)
    /// and its clauses, within `max_filter_values` and `max_filter_value_bytes`; unknown
    /// fields and bounds broken are INVALID_ARGUMENT.
    pub(crate) fn filter(
        &self,
        lists: &[(&'static str, &Vec<String>)],
        clauses: &[FilterClause],
    ) -> Result<Filter, Status> {
        let lists = lists
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(f, v)| (*f, v.as_slice()));
        let clauses = clauses.iter().map(|c| (c.field.as_str(), c.values.as_slice()));
        self.state
            .config
            .filter_limits()
            .filter(lists.chain(clauses))
            .map_err(|e| Status::invalid_argument(e.to_string()))
    }

    pub(crate) fn k_and_ef(&self, k: Option<u32>, ef: Option<u32>) -> Result<(usize, usize), Status> {
        let c = &self.state.config;
        let k = k.unwrap_or(c.default_k);
        if k == 0 || k > c.max_k {
            return Err(Status::invalid_argument(format!(
                "k is {k}; it must be between 1 and {}",
                c.max_k
            )));
        }
        let ef = ef.unwrap_or(c.ef);
        if ef == 0 || ef > MAX_EF {
            return Err(Status::invalid_argument(format!(
                "ef is {ef}; it must be between 1 and {MAX_EF}"
            )));
        }
        Ok((k as usize, ef as usize))
    }

    /// Runs the search on the blocking pool and reads the hit articles.
    async fn search(
        &self,
        index: Arc<Index>,
        query: Arc<Vec<f32>>,
        k: usize,
        ef: usize,
        filter: Filter,
    ) -> Result<(Vec<Hit>, u64), Status> {
        let metrics = self.state.metrics.clone();
        tokio::task::spawn_blocking(move || {
            let t = Instant::now();
            let hits = Answerer::new(&index, ef)
                .search(&query, k, Some(&filter))
                .map_err(index_status)?;
            let elapsed = t.elapsed();
            metrics.search_seconds.observe(elapsed.as_secs_f64());
            Ok((hits.into_iter().map(to_hit).collect(), elapsed.as_micros() as u64))
        })
        .await
        .map_err(|e| Status::internal(format!("search task failed: {e}")))?
    }

    async fn ask(&self, r: AskRequest, deadline: Option<Instant>) -> Result<AskResponse, Status> {
        let start = Instant::now();
        let question = self.check_text("question", &r.question)?;
        let (k, ef) = self.k_and_ef(r.k, r.ef)?;
        let filter = self.filter(
            &[
                ("locale", &r.locales),
                ("market", &r.markets),
                ("category", &r.categories),
            ],
            &r.filters,
        )?;
        let t = Instant::now();
        let (vector, cache_hit) = self.state.embed_question(&question, deadline).await?;
        let embed_us = t.elapsed().as_micros() as u64;
        self.state
            .metrics
            .embed_seconds
            .observe(t.elapsed().as_secs_f64());
        let (hits, timings, index_version) = self
            .answer(
                self.state.index(),
                vector,
                k,
                ef,
                filter,
                (embed_us, cache_hit),
                start,
            )
            .await?;
        let language = language::detect(&question, None)
            .map(|l| l.code)
            .unwrap_or_default();
        Ok(AskResponse {
            hits,
            timings: Some(timings),
            index_version,
            language,
        })
    }

    async fn search_rpc(
        &self,
        r: SearchRequest,
        deadline: Option<Instant>,
    ) -> Result<SearchResponse, Status> {
        let start = Instant::now();
        let (k, ef) = self.k_and_ef(r.k, r.ef)?;
        let filter = self.filter(&[], &r.filters)?;
        // Vectors are checked (dimension, finite, non-zero) by the engine.
        let (vector, embedded) = match r.query {
            None => {
                return Err(Status::invalid_argument(
                    "query is missing: set `vector` or `text`",
                ));
            }
            Some(search_request::Query::Vector(v)) => (Arc::new(v.values), (0, false)),
            Some(search_request::Query::Text(text)) => {
                let text = self.check_text("text", &text)?;
                let t = Instant::now();
                let (v, hit) = self.state.embed_question(&text, deadline).await?;
                (v, (t.elapsed().as_micros() as u64, hit))
            }
        };
        let (hits, timings, index_version) = self
            .answer(self.state.index(), vector, k, ef, filter, embedded, start)
            .await?;
        Ok(SearchResponse {
            hits,
            timings: Some(timings),
            index_version,
        })
    }

    /// Searches and stamps the timings: the shared tail of Ask and Search.
    #[allow(clippy::too_many_arguments)]
    async fn answer(
        &self,
        index: Arc<Index>,
        vector: Arc<Vec<f32>>,
        k: usize,
        ef: usize,
        filter: Filter,
        (embed_us, cache_hit): (u64, bool),
        start: Instant,
    ) -> Result<(Vec<Hit>, Timings, String), Status> {
        let version = index.manifest().version.clone();
        let (hits, search_us) = self.search(index, vector, k, ef, filter).await?;
        let timings = Timings {
            embed_us,
            search_us,
            total_us: start.elapsed().as_micros() as u64,
            cache_hit,
        };
        Ok((hits, timings, version))
    }

    async fn embed(&self, r: EmbedRequest, deadline: Option<Instant>) -> Result<EmbedResponse, Status> {
        let max = self.state.config.max_batch;
        if r.texts.is_empty() || r.texts.len() > max {
            return Err(Status::invalid_argument(format!(
                "{} texts given; Embed takes 1 to {max}",
                r.texts.len()
            )));
        }
        for (i, t) in r.texts.iter().enumerate() {
            self.check_text(&format!("texts[{i}]"), t)?;
        }
        let vectors = self.state.embed_texts(r.texts, deadline).await?;
        Ok(EmbedResponse {
            vectors: vectors.into_iter().map(|values| Vector { values }).collect(),
            dim: self.state.model.space.dim as u32,
            model: self.state.model.space.name.clone(),
            model_sha256: self.state.model.space.sha256.clone(),
        })
    }
}

/// A hit in the locale of the sample that matched (the customer wrote like it).
pub(crate) fn to_hit(h: kefu_engine::index::ArticleHit) -> Hit {
    let locale = h.matched_locale.clone();
    hit_in(h, locale.as_deref())
}

/// A hit with the article's text in `locale` when it has it, else its base text.
pub(crate) fn hit_in(h: kefu_engine::index::ArticleHit, locale: Option<&str>) -> Hit {
    let a = &h.article;
    let text = locale
        .and_then(|l| a.in_locale(l))
        .unwrap_or_else(|| a.base_text());
    Hit {
        article_id: a.id.clone(),
        title: text.title.unwrap_or_default().to_string(),
        answer: text.answer.to_string(),
        score: h.score,
        matched_question: h.matched_question.clone(),
        category: a.category.clone().unwrap_or_default(),
        locale: text.locale.unwrap_or_default().to_string(),
    }
}

#[tonic::async_trait]
impl Answers for AnswersService {
    async fn resolve(
        &self,
        request: Request<crate::proto::ResolveRequest>,
    ) -> Result<Response<crate::proto::ResolveResponse>, Status> {
        let deadline = deadline::of(&request);
        self.resolve_rpc(request.into_inner(), deadline)
            .await
            .map(Response::new)
    }

    async fn ask(&self, request: Request<AskRequest>) -> Result<Response<AskResponse>, Status> {
        let deadline = deadline::of(&request);
        AnswersService::ask(self, request.into_inner(), deadline)
            .await
            .map(Response::new)
    }

    async fn search(&self, request: Request<SearchRequest>) -> Result<Response<SearchResponse>, Status> {
        let deadline = deadline::of(&request);
        self.search_rpc(request.into_inner(), deadline)
            .await
            .map(Response::new)
    }

    async fn embed(&self, request: Request<EmbedRequest>) -> Result<Response<EmbedResponse>, Status> {
        let deadline = deadline::of(&request);
        AnswersService::embed(self, request.into_inner(), deadline)
            .await
            .map(Response::new)
    }
}

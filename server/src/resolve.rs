//! `kefu.v1.Answers/Resolve`: the answer-or-handoff decision over gRPC.
//! Converts the request, runs `kefu_engine::resolve`, files the handoff ticket
//! with the router, converts back.

use crate::answers::{AnswersService, hit_in, index_status};
use crate::convert::{route_response, route_status, tier_from};
use crate::desk::now_ms;
use crate::home::RoutingHome;
use crate::proto::{ResolveDecision, ResolveRequest, ResolveResponse, RouteRequest, Timings};
use kefu_engine::resolve::{Answerer, Decision, Inquiry, LanguageSource, Reason, Resolution, language};
use kefu_engine::route::{Command, Ticket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tonic::Status;

/// Suggestions returned when the request does not say.
const DEFAULT_SUGGESTIONS: u32 = 3;
/// Language filed on a ticket when neither the text nor the customer tells.
const FALLBACK_LANGUAGE: &str = "en";

/// Distinguishes generated ticket ids within one process.
static TICKETS: AtomicU64 = AtomicU64::new(0);

impl AnswersService {
    pub(crate) async fn resolve_rpc(
        &self,
        r: ResolveRequest,
        deadline: Option<Instant>,
    ) -> Result<ResolveResponse, Status> {
        let start = Instant::now();
        let question = self.check_text("question", &r.question)?;
        let customer = r.customer.clone().unwrap_or_default();
        if !r.decide_only {
            if r.channel.trim().is_empty() {
                return Err(Status::invalid_argument(
                    "channel is empty: a handoff is filed per channel (chat, whatsapp, wechat, email); \
                     set it, or set decide_only",
                ));
            }
            if customer.id.trim().is_empty() {
                return Err(Status::invalid_argument(
                    "customer.id is empty: a handoff needs the customer; set it, or set decide_only",
                ));
            }
        }
        let limits = self.state.config.route_limits();
        for (field, value) in [
            ("customer.id", &customer.id),
            ("customer.language", &customer.language),
            ("ticket_id", &r.ticket_id),
            ("channel", &r.channel),
        ] {
            limits.id(field, value).map_err(Status::invalid_argument)?;
        }
        if r.priority > 9 {
            return Err(Status::invalid_argument(format!(
                "priority {} is outside 0..=9",
                r.priority
            )));
        }
        if let Some(m) = r.min_confidence
            && !(0.0..=1.0).contains(&m)
        {
            return Err(Status::invalid_argument(format!(
                "min_confidence {m} is outside 0..=1"
            )));
        }
        let (suggestions, ef) = self.k_and_ef(Some(r.suggestions.unwrap_or(DEFAULT_SUGGESTIONS)), None)?;
        let tier = tier_from(customer.tier)?;
        let tier_raw = customer.tier;
        let filter = self.filter(&[("market", &r.markets), ("locale", &r.locales)], &[])?;

        let lang = language::detect(&question, Some(&customer.language));
        let t = Instant::now();
        let (vector, cache_hit) = self.state.embed_question(&question, deadline).await?;
        let embed_us = t.elapsed().as_micros() as u64;
        self.state
            .metrics
            .embed_seconds
            .observe(t.elapsed().as_secs_f64());

        let index = self.state.index();
        let min_confidence = r.min_confidence.or(self.state.config.answer_threshold);
        let (resolution, search_us) = {
            let (index, vector, question, lang) =
                (index.clone(), vector.clone(), question.clone(), lang.clone());
            let locale_first = r.locales.is_empty();
            tokio::task::spawn_blocking(move || {
                let t = Instant::now();
                let inquiry = Inquiry {
                    text: &question,
                    language: lang.as_ref(),
                    filter,
                    locale_first,
                    suggestions,
                };
                let res = Answerer::new(&index, ef)
                    .with_min_confidence(min_confidence)
                    .resolve(&vector, &inquiry)
                    .map_err(index_status)?;
                Ok::<_, Status>((res, t.elapsed().as_micros() as u64))
            })
            .await
            .map_err(|e| Status::internal(format!("resolve task failed: {e}")))??
        };
        self.state.metrics.search_seconds.observe(search_us as f64 / 1e6);

        let handoff = if resolution.decision == Decision::Handoff && !r.decide_only {
            let ticket = Ticket {
                id: if r.ticket_id.is_empty() {
                    generated_ticket_id()
                } else {
                    r.ticket_id.clone()
                },
                customer_id: customer.id.clone(),
                tier,
                language: resolution
                    .language
                    .as_ref()
                    .map(|l| l.code.clone())
                    .unwrap_or_else(|| FALLBACK_LANGUAGE.into()),
                channel: r.channel.clone(),
                category: resolution.category.clone().unwrap_or_default(),
                text: question.clone(),
                vector: Some(vector.to_vec()),
                required: Vec::new(),
                additional: Vec::new(),
                priority: (r.priority as u8 + resolution.priority_boost()).min(9),
                created_ms: 0,
                preferred_agent: None,
            };
            Some(match &self.desk {
                RoutingHome::Here(desk) => {
                    let category = ticket.category.clone();
                    let desk = desk.clone();
                    let out = tokio::task::spawn_blocking(move || {
                        desk.execute(Command::Route {
                            ticket,
                            now_ms: now_ms(),
                        })
                    })
                    .await
                    .map_err(|e| Status::internal(format!("routing task failed: {e}")))?
                    .map_err(route_status)?;
                    route_response(&out, category)?
                }
                // The router embeds the text again for expertise: vectors do not travel.
                RoutingHome::Router(link) => link.route(route_request(ticket, tier_raw), deadline).await?,
            })
        } else {
            None
        };
        let timings = Timings {
            embed_us,
            search_us,
            total_us: start.elapsed().as_micros() as u64,
            cache_hit,
        };
        Ok(to_response(
            resolution,
            handoff,
            timings,
            index.manifest().version.clone(),
        ))
    }
}

/// A ticket id unique across restarts and replicas (clock + a per-process random tag +
/// counter): answer replicas file with one router, so clock and counter alone could collide.
fn generated_ticket_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    static TAG: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    // RandomState is seeded randomly per process: a random tag without another dependency.
    let tag = *TAG.get_or_init(|| {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish() as u32
    });
    format!(
        "rs-{}-{tag:08x}-{}",
        now_ms(),
        TICKETS.fetch_add(1, Ordering::Relaxed)
    )
}

/// The handoff as the router replica's Route call takes it.
fn route_request(t: Ticket, tier: i32) -> RouteRequest {
    RouteRequest {
        ticket_id: t.id,
        customer_id: t.customer_id,
        tier,
        language: t.language,
        channel: t.channel,
        category: t.category,
        text: t.text,
        required: Vec::new(),
        additional: Vec::new(),
        priority: t.priority as u32,
        preferred_agent: String::new(),
    }
}

fn to_response(
    res: Resolution,
    handoff: Option<crate::proto::RouteResponse>,
    timings: Timings,
    index_version: String,
) -> ResolveResponse {
    let customer_locale = res.language.as_ref().map(|l| l.code.clone());
    let answer = res.answer.as_ref().map(|a| crate::proto::Hit {
        article_id: a.article_id.clone(),
        title: a.title.clone().unwrap_or_default(),
        answer: a.text.clone(),
        score: a.score,
        matched_question: a.matched_question.clone(),
        category: res.category.clone().unwrap_or_default(),
        locale: a.locale.clone().unwrap_or_default(),
    });
    let ambiguous_between = match &res.reason {
        Reason::Ambiguous { first, second } => vec![first.clone(), second.clone()],
        _ => Vec::new(),
    };
    ResolveResponse {
        decision: match res.decision {
            Decision::Answer => ResolveDecision::Answer,
            Decision::Handoff => ResolveDecision::Handoff,
        } as i32,
        reason: res.reason.name().to_string(),
        explanation: res.reason.explain(),
        confidence: res.confidence,
        threshold: res.threshold,
        answer_in_customer_language: res.answer.as_ref().is_some_and(|a| a.in_customer_language),
        answer,
        language: customer_locale.clone().unwrap_or_default(),
        language_source: res
            .language
            .as_ref()
            .map(|l| match l.source {
                LanguageSource::Detected => "detected",
                LanguageSource::Declared => "declared",
                LanguageSource::Guessed => "guessed",
            })
            .unwrap_or_default()
            .to_string(),
        answered_locale: res.matched_locale.clone().unwrap_or_default(),
        fell_back_to_all_locales: res.fell_back,
        category: res.category.clone().unwrap_or_default(),
        urgency: res.signals.urgency as u32,
        urgency_cues: res.signals.urgency_cues.clone(),
        suggestions: res
            .suggestions
            .into_iter()
            .map(|h| {
                // The agent reads the customer's language when the article has it.
                let locale = customer_locale.clone().or_else(|| h.matched_locale.clone());
                hit_in(h, locale.as_deref())
            })
            .collect(),
        handoff,
        ambiguous_between,
        timings: Some(timings),
        index_version,
    }
}

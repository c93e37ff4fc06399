//! kefu-engine: everything kefu knows, with no network code.
//!
//! Read it in the order a customer's message flows:
//! 1. [`embed`] — text to a unit-length sentence vector (candle BERT).
//! 2. [`kb`] — the knowledge base: articles with sample questions, imported from files.
//! 3. [`index`] — the ANN index over sample questions: build, open zero-copy, search with filters.
//! 4. [`resolve`] — answer now or hand off: article scoring, calibrated confidence, the decision.
//! 5. [`route`] — when the AI is not sure: the best human agent, or a place in the queue.
//!
//! The server crate adapts gRPC to these functions; the `kefu` CLI calls them directly.

pub mod echo;
pub mod embed;
#[doc(hidden)]
pub mod fuzz;
pub mod index;
pub mod kb;
pub mod resolve;
pub mod route;

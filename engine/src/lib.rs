//! kefu-engine: everything kefu knows, with no network code.
//!
//! Read it in the order a customer's message flows:
//! 1. [`embed`] — text to a unit-length sentence vector (candle BERT).
//!
//! The server crate adapts gRPC to these functions; the `kefu` CLI calls them directly.

pub mod embed;

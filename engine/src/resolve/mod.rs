//! Resolve: for one customer message, answer now from the knowledge base or
//! hand off to a person — with a confidence calibrated per index.
//!
//! In the order a message flows:
//! 1. [`text`] — normalise (NFKC, whitespace, control characters); reject empty content.
//! 2. [`language`] — detect the language, fall back to the customer's declared one.
//! 3. [`signals`] — asks for a person? upset or urgent?
//! 4. (the caller embeds the normalised text once, through its cache)
//! 5. [`answerer`] — search the customer's locale first, then all; [`rank`] scores
//!    articles beyond 1-NN; [`confidence`] turns score, margin and agreement into a
//!    probability; the [`decision`] is ANSWER or HANDOFF with a reason.
//!
//! [`calibrate`] fits the confidence model and picks the threshold at build time
//! from the knowledge base's own sample questions; the result lives in the manifest.

pub mod answerer;
pub mod calibrate;
pub mod confidence;
pub mod decision;
pub mod language;
pub mod rank;
pub mod signals;
pub mod text;

pub use answerer::{Answerer, CANDIDATES, Inquiry};
pub use calibrate::{CalibrationParams, calibrate};
pub use confidence::{Calibration, CurvePoint, Fit};
pub use decision::{Answer, Decision, Reason, Resolution};
pub use language::{Language, LanguageSource};
pub use rank::Scoring;
pub use signals::Signals;

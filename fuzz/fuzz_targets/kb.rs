//! cargo-fuzz target: knowledge-base import from JSON Lines or CSV bytes (see kefu_engine::fuzz::kb).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu_engine::fuzz::kb::run(data));

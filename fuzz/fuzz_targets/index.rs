//! cargo-fuzz target: damaged index version: open, search, resolve, verify (see kefu_engine::fuzz::index).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu_engine::fuzz::index::run(data));

//! cargo-fuzz target: routing recovery from arbitrary snapshot and log bytes (see kefu_engine::fuzz::route).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kefu_engine::fuzz::route::run(data));

//! Offsets, lengths, limits and sizes against slice arithmetic: see `model::offsets`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    io_copy_fuzz::model::offsets(data);
});

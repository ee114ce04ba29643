//! Scripted syscall results through the fault seam: see `model::fallbacks`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    io_copy_fuzz::model::fallbacks(data);
});

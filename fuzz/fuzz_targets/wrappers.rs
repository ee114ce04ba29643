//! Nested std wrappers against `std::io::copy`: see `model::wrappers`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    io_copy_fuzz::model::wrappers(data);
});

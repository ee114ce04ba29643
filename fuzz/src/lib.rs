//! The model the fuzz targets share with `tests/fuzz_replay.rs`, included from the main crate's
//! tests so both always run the same code.

#[path = "../../tests/fuzz_model/mod.rs"]
pub mod model;

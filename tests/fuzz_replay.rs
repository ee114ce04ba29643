//! Replays every committed input of the fuzz targets (`fuzz/corpus/<target>/`) through the
//! model they share (`tests/fuzz_model/`), so a regression shows on stable without the fuzzer.
#![cfg(target_os = "linux")]

mod fuzz_model;

use std::path::PathBuf;

/// Runs `model` on each file of `fuzz/corpus/<target>/` and fails naming every input that fails.
///
/// A file named `known-bug-*` reproduces a library bug that is reported and not fixed yet: it
/// must still fail, so `cargo test` stays green meanwhile and says so once the bug is fixed
/// (then rename the file `crash-*`).
fn replay(target: &str, model: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: no corpus to replay", dir.display());
    let mut failed = Vec::new();
    let mut fixed = Vec::new();
    for file in &files {
        let input = std::fs::read(file).expect("read corpus file");
        let known_bug = file
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("known-bug-"));
        if known_bug {
            eprintln!("{}: a known bug, expected to fail:", file.display());
        }
        let ok = std::panic::catch_unwind(|| model(&input)).is_ok();
        match (ok, known_bug) {
            (false, false) => failed.push(file.display().to_string()),
            (true, true) => fixed.push(file.display().to_string()),
            _ => {}
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail (each one's panic is printed above):\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "{target}: these known bugs pass now; rename them crash-*:\n{}",
        fixed.join("\n")
    );
    eprintln!("{target}: {} inputs replayed", files.len());
}

#[test]
fn fuzz_corpus_offsets() {
    replay("offsets", fuzz_model::offsets);
}

#[test]
fn fuzz_corpus_fallbacks() {
    replay("fallbacks", fuzz_model::fallbacks);
}

#[test]
fn fuzz_corpus_wrappers() {
    replay("wrappers", fuzz_model::wrappers);
}

/// The model's own decoder: every input decodes, short ones as zeros.
#[test]
fn fuzz_model_decodes_any_input() {
    let mut u = fuzz_model::Input::new(&[1, 2]);
    assert_eq!(u.u16(), 0x0201, "little-endian");
    assert_eq!(
        (u.u8(), u.u64(), u.below(7)),
        (0, 0, 0),
        "past the end: zeros"
    );
    let mut u = fuzz_model::Input::new(&[0, 0, 0, 0]);
    assert!(u.content().is_empty(), "all zeros: an empty source");
}

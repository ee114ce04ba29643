//! Copies from standard input and into standard output, as `prog < in > out` makes them.
//!
//! Standard input and output are process-wide, so each test runs its copy in a child: the test
//! binary again, with only that test selected and `IO_COPY_STDIO_CHILD` set. The child puts the
//! files on descriptors 0 and 1 (`dup2`) just for the copy, puts the originals back, and checks
//! what the copy reported; the parent checks the files.
#![cfg(target_os = "linux")]

mod util;

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path as FsPath;
use std::process::{Command, Stdio};

use io_copy::{Copier, Path};
use util::{pattern, scratch};

const CHILD: &str = "IO_COPY_STDIO_CHILD";

/// In the child: runs `copy` with `stdin` on descriptor 0 and `stdout` on descriptor 1, then
/// puts the original descriptors back.
fn with_stdio<T>(stdin: impl AsFd, stdout: impl AsFd, copy: impl FnOnce() -> T) -> T {
    let (saved_in, saved_out): (OwnedFd, OwnedFd) = (
        nix::unistd::dup(io::stdin()).expect("dup stdin"),
        nix::unistd::dup(io::stdout()).expect("dup stdout"),
    );
    nix::unistd::dup2_stdin(stdin).expect("dup2 stdin");
    nix::unistd::dup2_stdout(stdout).expect("dup2 stdout");
    let out = copy();
    io::stdout().flush().expect("flush stdout");
    nix::unistd::dup2_stdin(&saved_in).expect("restore stdin");
    nix::unistd::dup2_stdout(&saved_out).expect("restore stdout");
    out
}

/// In the parent: runs `test` again in a child with `role` in its environment and asserts that
/// it passed.
fn run_child(test: &str, role: &str) {
    let exe = std::env::current_exe().expect("test binary");
    let out = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, role)
        .stdin(Stdio::null())
        .output()
        .expect("run the child");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{test} ({role}) failed in the child ({}):\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn role() -> Option<String> {
    std::env::var(CHILD).ok()
}

/// The regression: `prog < f >> f` once read the whole file again when it was smaller than
/// stdin's 8 KiB buffer, and up to 8 KiB past its end otherwise. The held bytes were written
/// (appended) before the copy looked at the file's size, so the cap at the initial end moved.
#[test]
fn stdin_appended_onto_itself_reads_only_the_initial_end() {
    const SIZES: [usize; 6] = [1, 100, 8191, 8192, 8193, 100_000];
    if let Some(dir) = role() {
        for n in SIZES {
            let path = FsPath::new(&dir).join(format!("f{n}"));
            let src = File::open(&path).expect("open");
            let dst = OpenOptions::new().append(true).open(&path).expect("open");
            let got = with_stdio(&src, &dst, || {
                io_copy::copy(&mut io::stdin().lock(), &mut io::stdout().lock())
            });
            assert_eq!(got.expect("copy"), n as u64, "count for {n} bytes");
        }
        return;
    }
    let dir = scratch();
    for n in SIZES {
        fs::write(dir.path().join(format!("f{n}")), pattern(n, n as u64)).expect("write");
    }
    run_child(
        "stdin_appended_onto_itself_reads_only_the_initial_end",
        dir.path().to_str().expect("utf-8 path"),
    );
    for n in SIZES {
        let data = pattern(n, n as u64);
        let got = fs::read(dir.path().join(format!("f{n}"))).expect("read");
        assert_eq!(got.len(), 2 * n, "{n} bytes appended onto themselves");
        assert!(
            got[..n] == data[..] && got[n..] == data[..],
            "{n} bytes: the file is not its bytes twice"
        );
    }
}

/// A regular file on stdin goes through the kernel path whole: the bytes stdin's buffer read to
/// find out whether it held any are given back to the file, not written through user space.
#[test]
fn stdin_file_takes_the_kernel_path_for_every_byte() {
    const N: usize = 300_000;
    if let Some(dir) = role() {
        let dir = FsPath::new(&dir);
        let src = File::open(dir.join("in")).expect("open");
        let dst = File::create(dir.join("out")).expect("create");
        let report = with_stdio(&src, &dst, || {
            Copier::new().copy(&mut io::stdin().lock(), &mut io::stdout().lock())
        })
        .expect("copy");
        assert_eq!(report.written(), N as u64, "{report}");
        assert_eq!(
            report.path_stats(Path::Buffered).bytes,
            0,
            "no byte through user space: {report}"
        );
        return;
    }
    let dir = scratch();
    fs::write(dir.path().join("in"), pattern(N, 7)).expect("write");
    run_child(
        "stdin_file_takes_the_kernel_path_for_every_byte",
        dir.path().to_str().expect("utf-8 path"),
    );
    let got = fs::read(dir.path().join("out")).expect("read");
    assert!(got == pattern(N, 7), "the copy differs from its source");
}

/// Bytes the program read through stdin's buffer before the copy are not copied again, and the
/// ones it buffered but did not consume are: a line read first, then the rest.
#[test]
fn stdin_copy_after_a_line_was_read_starts_after_it() {
    let mut data = b"first line\n".to_vec();
    data.extend(pattern(50_000, 3));
    if let Some(dir) = role() {
        let dir = FsPath::new(&dir);
        for source in ["in", "pipe"] {
            let dst = File::create(dir.join(format!("out-{source}"))).expect("create");
            let (src, feeder): (OwnedFd, _) = if source == "in" {
                (File::open(dir.join("in")).expect("open").into(), None)
            } else {
                let (r, mut w) = io::pipe().expect("pipe");
                let bytes = data.clone();
                let feeder = std::thread::spawn(move || w.write_all(&bytes).expect("feed"));
                (r.into(), Some(feeder))
            };
            let (line, n) = with_stdio(&src, &dst, || {
                let mut lock = io::stdin().lock();
                let mut line = String::new();
                lock.read_line(&mut line).expect("read_line");
                (line, io_copy::copy(&mut lock, &mut io::stdout().lock()))
            });
            assert_eq!(line, "first line\n", "{source}");
            assert_eq!(n.expect("copy"), 50_000, "{source}");
            if let Some(f) = feeder {
                f.join().expect("feeder");
            }
        }
        return;
    }
    let dir = scratch();
    fs::write(dir.path().join("in"), &data).expect("write");
    run_child(
        "stdin_copy_after_a_line_was_read_starts_after_it",
        dir.path().to_str().expect("utf-8 path"),
    );
    for source in ["in", "pipe"] {
        let mut got = Vec::new();
        File::open(dir.path().join(format!("out-{source}")))
            .and_then(|mut f| f.read_to_end(&mut got))
            .expect("read");
        assert!(got == data[11..], "{source}: the copy is not the rest");
    }
}

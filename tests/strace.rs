//! strace, run on this test binary, shows the kernel paths: copy_file_range for file→file,
//! sendfile for file→TCP and splice for TCP→TCP.
#![cfg(target_os = "linux")]

mod util;

use std::process::Command;

use util::*;

const CHILD: &str = "IO_COPY_STRACE_CHILD";

/// The copies strace watches: file→file, file→TCP and TCP→TCP, 1 MiB each.
fn copies() {
    let dir = scratch();
    let data = pattern(1 << 20, 1);
    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (mut dst, dst_path) = sink_file(dir.path(), "dst");
    assert_eq!(
        io_copy::copy(&mut src, &mut dst).unwrap(),
        data.len() as u64
    );
    assert_eq!(std::fs::read(dst_path).unwrap(), data);

    let (mut src, _) = source_file(dir.path(), "src2", &data);
    let (mut a, b) = tcp_pair();
    let reader = drain(b);
    assert_eq!(io_copy::copy(&mut src, &mut a).unwrap(), data.len() as u64);
    drop(a);
    assert_eq!(reader.join().unwrap(), data);

    // TCP → TCP: a relay through the pooled pipe.
    let (client, mut relay_in) = tcp_pair();
    let (mut relay_out, server) = tcp_pair();
    let feeder = feed(client, data.clone());
    let reader = drain(server);
    assert_eq!(
        io_copy::copy(&mut relay_in, &mut relay_out).unwrap(),
        data.len() as u64
    );
    drop(relay_out);
    feeder.join().unwrap();
    assert_eq!(reader.join().unwrap(), data);
}

#[test]
fn strace_shows_each_kernel_path_needs_strace() {
    if std::env::var_os(CHILD).is_some() {
        copies();
        return;
    }
    if !require(
        have_program("strace"),
        "strace_shows_each_kernel_path_needs_strace",
        "strace",
    ) {
        return;
    }
    let dir = scratch();
    let log = dir.path().join("strace.log");
    let exe = std::env::current_exe().unwrap();
    let status = Command::new("strace")
        .args(["-f", "-e", "trace=copy_file_range,sendfile,splice", "-o"])
        .arg(&log)
        .arg(&exe)
        .args([
            "--exact",
            "strace_shows_each_kernel_path_needs_strace",
            "--test-threads=1",
        ])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run strace");
    assert!(status.success(), "the traced copies failed: {status}");
    let log = std::fs::read_to_string(log).unwrap();
    // A successful call ends in `= N` with N > 0.
    let moved = |name: &str| {
        log.lines().any(|l| {
            l.contains(&format!("{name}("))
                && l.rsplit("= ")
                    .next()
                    .and_then(|n| n.trim().parse::<u64>().ok())
                    .is_some_and(|n| n > 0)
        })
    };
    assert!(
        moved("copy_file_range"),
        "no copy_file_range moved bytes:\n{log}"
    );
    assert!(moved("sendfile"), "no sendfile moved bytes:\n{log}");
    assert!(moved("splice"), "no splice moved bytes:\n{log}");
}

const PROBES_CHILD: &str = "IO_COPY_STRACE_PROBES_CHILD";

/// Between two writes of `mark` to /dev/null (so strace can cut them out): a 4 KiB file and a
/// 1 MiB file into a `TcpStream`, and 1 MiB from a `TcpStream` into a `PipeWriter`.
fn typed_copies(mark: &[u8]) {
    use std::io::{Read, Write};
    let dir = scratch();
    let mut null = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/null")
        .unwrap();
    for len in [4096, 1 << 20] {
        let data = pattern(len, 2);
        let (mut src, _) = source_file(dir.path(), &format!("src{len}"), &data);
        let (mut a, b) = tcp_pair();
        let reader = drain(b);
        null.write_all(mark).unwrap();
        assert_eq!(io_copy::copy(&mut src, &mut a).unwrap(), len as u64);
        null.write_all(mark).unwrap();
        drop(a);
        assert_eq!(reader.join().unwrap(), data);
    }
    let data = pattern(1 << 20, 3);
    let (client, mut server) = tcp_pair();
    let feeder = feed(client, data.clone());
    let (mut r, mut w) = std::io::pipe().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    });
    null.write_all(mark).unwrap();
    assert_eq!(io_copy::copy(&mut server, &mut w).unwrap(), 1 << 20);
    null.write_all(mark).unwrap();
    drop(w);
    feeder.join().unwrap();
    assert_eq!(reader.join().unwrap(), data);
}

/// A `TcpStream` or `PipeWriter` is what its type says: the copy asks no `fstat` or
/// `getsockopt` of it (as std's `io::copy` asks none); only a `File` is looked at.
#[test]
fn strace_shows_typed_ends_skip_their_probes_needs_strace() {
    const MARK: &[u8] = b"io_copy-strace-mark";
    const TEST: &str = "strace_shows_typed_ends_skip_their_probes_needs_strace";
    if std::env::var_os(PROBES_CHILD).is_some() {
        typed_copies(MARK);
        return;
    }
    if !require(have_program("strace"), TEST, "strace") {
        return;
    }
    let dir = scratch();
    let log = dir.path().join("strace.log");
    let exe = std::env::current_exe().unwrap();
    let trace = "trace=write,fstat,newfstatat,statx,getsockopt,sendfile,splice,copy_file_range";
    let status = Command::new("strace")
        .args(["-f", "-e", trace, "-e", "signal=none", "-s", "32", "-o"])
        .arg(&log)
        .arg(&exe)
        .args(["--exact", TEST, "--test-threads=1"])
        .env(PROBES_CHILD, "1")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run strace");
    assert!(status.success(), "the traced copies failed: {status}");
    let log = std::fs::read_to_string(log).unwrap();
    let mark = String::from_utf8_lossy(MARK).into_owned();
    // The calls between each pair of marks, by name.
    let mut sections: Vec<Vec<String>> = Vec::new();
    let mut inside = false;
    for line in log.lines() {
        if line.contains(&mark) {
            inside = !inside;
            if inside {
                sections.push(Vec::new());
            }
        } else if inside {
            // `PID name(args) = result`, the PID there because of -f.
            let call = line.trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
            let name = call.split('(').next().unwrap_or("").to_string();
            sections.last_mut().unwrap().push(name);
        }
    }
    assert_eq!(sections.len(), 3, "three marked copies:\n{log}");
    let count = |s: &[String], name: &str| s.iter().filter(|n| *n == name).count();
    let probes = |s: &[String]| {
        ["fstat", "newfstatat", "statx"]
            .iter()
            .map(|n| count(s, n))
            .sum::<usize>()
    };
    for (i, s) in sections[..2].iter().enumerate() {
        assert_eq!(
            probes(s),
            1,
            "file→TCP copy {i}: the source's fstat only: {s:?}"
        );
        assert_eq!(count(s, "getsockopt"), 0, "file→TCP copy {i}: {s:?}");
        assert!(count(s, "sendfile") >= 1, "file→TCP copy {i}: {s:?}");
    }
    let s = &sections[2];
    assert_eq!(
        (probes(s), count(s, "getsockopt")),
        (0, 0),
        "TCP→pipe: no probe at all: {s:?}"
    );
    assert!(count(s, "splice") >= 1, "TCP→pipe splices: {s:?}");
}

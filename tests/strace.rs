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

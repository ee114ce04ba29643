//! What every Unix gets: exact copies whatever the path. CI also runs this file with
//! `IO_COPY_PORTABLE=1`, which builds the read/write layer of non-Linux systems on Linux.
#![cfg(unix)]

mod util;

use std::io::{self, Read, Seek};

use util::*;

#[test]
fn descriptor_pairs_are_exact_on_any_layer() {
    let dir = scratch();
    let data = pattern(700_001, 1);

    let (mut src, _) = source_file(dir.path(), "src", &data);
    let (mut dst, dst_path) = sink_file(dir.path(), "dst");
    seek(&mut src, 1);
    assert_eq!(io_copy::copy(&mut src, &mut dst).unwrap(), 700_000);
    assert_eq!(std::fs::read(&dst_path).unwrap(), &data[1..]);
    assert_eq!((position(&mut src), position(&mut dst)), (700_001, 700_000));

    let (mut src, _) = source_file(dir.path(), "src2", &data);
    let (mut a, b) = tcp_pair();
    let reader = drain(b);
    assert_eq!(io_copy::copy(&mut src, &mut a).unwrap(), data.len() as u64);
    drop(a);
    assert!(reader.join().unwrap() == data);

    let (rd, wr) = io::pipe().unwrap();
    let (mut ua, ub) = unix_pair();
    let feeder = feed(wr, data.clone());
    let reader = drain(ub);
    assert_eq!(io_copy::copy(&mut &rd, &mut ua).unwrap(), data.len() as u64);
    drop(ua);
    feeder.join().unwrap();
    assert!(reader.join().unwrap() == data);

    let (src, _) = source_file(dir.path(), "src3", &data);
    let mut take = io::BufReader::new(src).take(100_000);
    let mut out = Vec::new();
    assert_eq!(io_copy::copy(&mut take, &mut out).unwrap(), 100_000);
    assert_eq!(out, &data[..100_000]);
}

#[test]
fn same_file_onto_its_end_terminates_on_any_layer() {
    let dir = scratch();
    let data = pattern(100_000, 2);
    let (mut src, path) = source_file(dir.path(), "f", &data);
    let mut dst = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    dst.seek(io::SeekFrom::End(0)).unwrap();
    assert_eq!(io_copy::copy(&mut src, &mut dst).unwrap(), 100_000);
    assert_eq!(std::fs::read(&path).unwrap().len(), 200_000);
}

/// The tokio copies on any layer: sockets, a pipe and files, exact, with half-close.
#[test]
fn tokio_copies_are_exact_on_any_layer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = scratch();
        let data = pattern(3 << 20, 3);
        std::fs::write(dir.path().join("s"), &data).unwrap();
        // A file into a Unix socket, read by a task.
        let mut src = tokio::fs::File::open(dir.path().join("s")).await.unwrap();
        let (mut a, mut b) = tokio::net::UnixStream::pair().unwrap();
        let reader = tokio::spawn(async move {
            let mut v = Vec::new();
            b.read_to_end(&mut v).await.unwrap();
            v
        });
        let n = io_copy::tokio::copy(&mut src, &mut a).await.unwrap();
        drop(a);
        assert_eq!(n, data.len() as u64);
        assert!(reader.await.unwrap() == data);
        // A pipe into a file.
        let (mut tx, mut rx) = tokio::net::unix::pipe::pipe().unwrap();
        let sent = data.clone();
        let feeder = tokio::spawn(async move {
            tx.write_all(&sent).await.unwrap();
        });
        let mut dst = tokio::fs::File::create(dir.path().join("d")).await.unwrap();
        let n = io_copy::tokio::copy(&mut rx, &mut dst).await.unwrap();
        feeder.await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(std::fs::read(dir.path().join("d")).unwrap() == data);
    });
}

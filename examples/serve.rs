//! A static HTTP/1.1 file server on io_copy: a thread per connection, keep-alive, `GET` and
//! `HEAD`, single byte ranges, and each body sent by the kernel (`sendfile` on Linux).
//!
//! ```text
//! cargo run --release --example serve -- ROOT [ADDR]    # ADDR defaults to 127.0.0.1:8080
//! cargo run --release --example serve -- ROOT 127.0.0.1:0 --std   # bodies by std::io::copy
//! ```
//!
//! It prints `listening on ADDR` once bound (port 0 picks a free one). Requests: `GET` or `HEAD`
//! of a file under ROOT (`%XX` decoded, the query ignored; a path that leaves ROOT, also through
//! a symlink, is 404), `Range: bytes=A-B`, `A-` or `-N` (206 with `Content-Range`, 416 when the
//! range starts past the end; a range that cannot be parsed, or several, are ignored as RFC 9110
//! allows). HTTP/1.1 keeps the connection unless the request says `Connection: close`; HTTP/1.0
//! closes it unless the request asks for `keep-alive`. Malformed requests get 400, other methods
//! 405, and the connection is closed after either.
//!
//! Each connection sets `TCP_NODELAY`: without it, the head and the body wait on Nagle and the
//! peer's delayed ACK (64 KiB files moved at 13–16 MB/s here). The head is sent with
//! `MSG_MORE` (`io_copy::Prefixed`) and `io_copy::copy_range` sends the body from the file
//! (`sendfile`), leaving the file's position alone: the head and the first bytes of the body
//! share a segment, as nginx's `tcp_nopush` makes them.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::thread;

/// The most bytes of request head (request line and headers) a connection may send.
const MAX_HEAD: usize = 16 * 1024;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut use_std = false;
    for a in args.by_ref() {
        match a.as_str() {
            "--std" => use_std = true,
            _ => positional.push(a),
        }
    }
    let (root, addr) = match positional.as_slice() {
        [root] => (root.clone(), "127.0.0.1:8080".to_string()),
        [root, addr] => (root.clone(), addr.clone()),
        _ => {
            eprintln!("usage: serve ROOT [ADDR] [--std]");
            std::process::exit(2);
        }
    };
    let root = std::fs::canonicalize(&root).unwrap_or_else(|e| {
        eprintln!("serve: {root}: {e}");
        std::process::exit(2)
    });
    let listener = TcpListener::bind(&addr).unwrap_or_else(|e| {
        eprintln!("serve: cannot listen on {addr}: {e}");
        std::process::exit(2)
    });
    println!(
        "listening on {}",
        listener.local_addr().expect("bound address")
    );
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let root = root.clone();
        thread::spawn(move || {
            // A client that goes away mid-body ends its connection only.
            let _ = serve_connection(conn, &root, use_std);
        });
    }
}

/// One parsed request.
struct Request {
    method: String,
    target: String,
    keep_alive: bool,
    range: Option<String>,
}

fn serve_connection(conn: TcpStream, root: &Path, use_std: bool) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut out = conn.try_clone()?;
    let mut input = BufReader::new(conn);
    loop {
        let req = match read_request(&mut input) {
            Ok(Some(req)) => req,
            Ok(None) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return respond_error(&mut out, "400 Bad Request", false, true);
            }
            Err(e) => return Err(e),
        };
        if req.method != "GET" && req.method != "HEAD" {
            return respond_error(&mut out, "405 Method Not Allowed", false, true);
        }
        let body = req.method == "GET";
        let Some(path) = resolve(root, &req.target) else {
            respond_error(&mut out, "404 Not Found", req.keep_alive, body)?;
            if req.keep_alive {
                continue;
            }
            return Ok(());
        };
        let file = match File::open(&path) {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_file()) => f,
            _ => {
                respond_error(&mut out, "404 Not Found", req.keep_alive, body)?;
                if req.keep_alive {
                    continue;
                }
                return Ok(());
            }
        };
        let len = file.metadata()?.len();
        let connection = if req.keep_alive {
            "keep-alive"
        } else {
            "close"
        };
        let (status, start, count, range_header) = match req
            .range
            .as_deref()
            .map(|r| byte_range(r, len))
        {
            Some(Range::Satisfiable(a, b)) => (
                "206 Partial Content",
                a,
                b - a + 1,
                format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
            ),
            Some(Range::Unsatisfiable) => {
                let head = format!(
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: {connection}\r\n\r\n"
                );
                out.write_all(head.as_bytes())?;
                if req.keep_alive {
                    continue;
                }
                return Ok(());
            }
            Some(Range::Ignored) | None => ("200 OK", 0, len, String::new()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {count}\r\nAccept-Ranges: bytes\r\n{range_header}Connection: {connection}\r\n\r\n"
        );
        if !body || use_std {
            out.write_all(head.as_bytes())?;
        }
        if body {
            let sent = if use_std {
                let mut f = &file;
                f.seek(SeekFrom::Start(start))?;
                io::copy(&mut f.take(count), &mut out)?
            } else {
                // The head goes with MSG_MORE, so the body's first bytes join it in one segment.
                let mut sink = io_copy::Prefixed::new(head.as_bytes(), &mut out);
                io_copy::copy_range(&file, start, count, &mut sink)?
            };
            if sent < count {
                // The file shrank under us: the promised length cannot be kept.
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
            }
        }
        if !req.keep_alive {
            return Ok(());
        }
    }
}

/// Reads one request head; `None` at the end of the connection before a request.
fn read_request(input: &mut BufReader<TcpStream>) -> io::Result<Option<Request>> {
    let bad = |why: &str| io::Error::new(io::ErrorKind::InvalidData, why.to_string());
    let mut line = String::new();
    let mut total = 0;
    let mut next_line = |line: &mut String| -> io::Result<usize> {
        line.clear();
        let n = input.by_ref().take(MAX_HEAD as u64).read_line(line)?;
        total += n;
        if total > MAX_HEAD || (n > 0 && !line.ends_with('\n')) {
            return Err(bad("request head too long"));
        }
        Ok(n)
    };
    // Empty lines before a request are allowed (RFC 9112, 2.2).
    loop {
        if next_line(&mut line)? == 0 {
            return Ok(None);
        }
        if !line.trim_end().is_empty() {
            break;
        }
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(bad("unsupported version")),
    };
    let mut req = Request {
        method: method.to_string(),
        target: target.to_string(),
        keep_alive: !http10,
        range: None,
    };
    let mut body = 0u64;
    loop {
        if next_line(&mut line)? == 0 {
            return Err(bad("connection ended inside the request head"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header
            .split_once(':')
            .ok_or_else(|| bad("malformed header"))?;
        let value = value.trim();
        match name.to_ascii_lowercase().as_str() {
            "connection" => {
                for token in value.split(',').map(|t| t.trim().to_ascii_lowercase()) {
                    match token.as_str() {
                        "close" => req.keep_alive = false,
                        "keep-alive" => req.keep_alive = true,
                        _ => {}
                    }
                }
            }
            "range" => req.range = Some(value.to_string()),
            "content-length" => body = value.parse().map_err(|_| bad("bad Content-Length"))?,
            "transfer-encoding" => return Err(bad("request bodies are not taken")),
            _ => {}
        }
    }
    // A body on a GET or HEAD means nothing here; it is read and dropped, up to a bound.
    if body > MAX_HEAD as u64 {
        return Err(bad("request body too long"));
    }
    io::copy(&mut input.by_ref().take(body), &mut io::sink())?;
    Ok(Some(req))
}

/// The file a request target names under `root`, if it stays under `root`.
fn resolve(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next()?;
    let decoded = percent_decode(path.strip_prefix('/')?)?;
    let rel = Path::new(&decoded);
    if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let full = std::fs::canonicalize(root.join(rel)).ok()?;
    full.starts_with(root).then_some(full)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let s = String::from_utf8(out).ok()?;
    (!s.contains('\0')).then_some(s)
}

enum Range {
    /// First and last byte, inclusive, within the file.
    Satisfiable(u64, u64),
    /// A range that starts at or past the end (or a suffix of 0 bytes): 416.
    Unsatisfiable,
    /// Not one range in a form this server takes: the whole file is sent.
    Ignored,
}

/// `bytes=A-B`, `bytes=A-` or `bytes=-N` against a file of `len` bytes.
fn byte_range(header: &str, len: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Range::Ignored;
    };
    if spec.contains(',') {
        return Range::Ignored;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Ignored;
    };
    let num = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    match (a.trim(), b.trim()) {
        ("", n) => match num(n) {
            Some(0) => Range::Unsatisfiable,
            Some(_) if len == 0 => Range::Unsatisfiable,
            Some(n) => Range::Satisfiable(len.saturating_sub(n), len - 1),
            None => Range::Ignored,
        },
        (a, "") => match num(a) {
            Some(a) if a >= len => Range::Unsatisfiable,
            Some(a) => Range::Satisfiable(a, len - 1),
            None => Range::Ignored,
        },
        (a, b) => match (num(a), num(b)) {
            (Some(a), Some(b)) if b < a => Range::Ignored,
            (Some(a), Some(_)) if a >= len => Range::Unsatisfiable,
            (Some(a), Some(b)) => Range::Satisfiable(a, b.min(len - 1)),
            _ => Range::Ignored,
        },
    }
}

/// An error status with a one-line text body (left out for `HEAD`).
fn respond_error(
    out: &mut TcpStream,
    status: &str,
    keep_alive: bool,
    body: bool,
) -> io::Result<()> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let text = format!("{status}\n");
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n",
        text.len()
    );
    if body {
        head += &text;
    }
    out.write_all(head.as_bytes())
}

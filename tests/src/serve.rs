//! `vouch serve` as the end-to-end tests run it: a child process listening on a free port of
//! 127.0.0.1, stopped (SIGTERM, then reaped) when dropped, with its audit lines collected.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{KeyPair, vouch_command};

/// Writes `dir/policy.yaml`: a trust policy whose one authority, `release`, is `key`'s public
/// key (copied beside it as `trusted.pub`), with the scopes `scopes` (each made by
/// [`release_scope`], or YAML list items of the same indentation). Gives its path.
pub fn key_policy(dir: &Path, key: &KeyPair, scopes: &[String]) -> PathBuf {
    std::fs::copy(&key.public, dir.join("trusted.pub")).unwrap();
    let path = dir.join("policy.yaml");
    std::fs::write(
        &path,
        format!(
            "apiVersion: vouch.dev/v1\nkind: TrustPolicy\nauthorities:\n  release: {{key: {{path: trusted.pub}}}}\nscopes:\n{}",
            scopes.concat()
        ),
    )
    .unwrap();
    path
}

/// A scope of [`key_policy`]: images matching `pattern` need `release`'s signature; with
/// `remap` (`prefix`, `signed_prefix`), images named `prefix/...` were signed as
/// `signed_prefix/...` (the proxy's names for an upstream's images).
pub fn release_scope(pattern: &str, remap: Option<(&str, &str)>) -> String {
    let mut scope = format!("  - images: [\"{pattern}\"]\n    authorities: [release]\n");
    if let Some((prefix, signed)) = remap {
        scope.push_str(&format!(
            "    signedIdentity: {{type: remapIdentity, prefix: {prefix}, signedPrefix: \"{signed}\"}}\n"
        ));
    }
    scope
}

/// A running `vouch serve`.
pub struct Serve {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    audit: Arc<Mutex<Vec<serde_json::Value>>>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Serve {
    /// Starts `vouch serve --listen 127.0.0.1:0` with `args` and waits for its
    /// `listening on` line (at most 30 s).
    pub fn start(args: &[&str]) -> Serve {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        let mut child = vouch_command(&all)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let audit = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().unwrap();
        let lines = audit.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("an audit line is not JSON ({e}): {line}"));
                lines.lock().unwrap().push(value);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let (sender, receiver) = std::sync::mpsc::channel();
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                kept.lock().unwrap().push(line.clone());
                if let Some(rest) = line
                    .split_once("listening on http://")
                    .or_else(|| line.split_once("listening on https://"))
                {
                    let addr = rest.1.split_whitespace().next().unwrap_or_default();
                    let _ = sender.send(addr.to_owned());
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            if let Ok(addr) = receiver.recv_timeout(Duration::from_millis(100)) {
                break addr;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "vouch serve exited with {status}:\n{}",
                    log.lock().unwrap().join("\n")
                );
            }
            assert!(Instant::now() < deadline, "vouch serve did not start");
        };
        Serve {
            child,
            addr,
            audit,
            log,
        }
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many file descriptors the server has open, and its resident memory in KiB, from
    /// `/proc`.
    pub fn resources(&self) -> (usize, u64) {
        let pid = self.child.id();
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let rss = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        (fds, rss)
    }

    /// How many decisions the server evaluated (its `vouch_decision_evaluations_total`).
    pub fn evaluations(&self) -> u64 {
        self.get("/metrics")
            .text()
            .lines()
            .find_map(|l| l.strip_prefix("vouch_decision_evaluations_total "))
            .expect("the metrics count evaluations")
            .parse()
            .unwrap()
    }

    /// The audit lines written so far, each a JSON object.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        self.audit.lock().unwrap().clone()
    }

    /// The server's standard error so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// The audit lines once one satisfies `wanted`, waiting up to 10 seconds for it: the
    /// server writes a decision's line as it answers, and the client may read the answer
    /// before this process has read the line. Returns the lines either way.
    pub fn audit_once(
        &self,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let audit = self.audit();
            if audit.iter().any(&wanted) || std::time::Instant::now() > deadline {
                return audit;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server's standard error once it contains `needle`, waiting up to 10 seconds (see
    /// [`Serve::audit_once`]). Returns the log either way.
    pub fn log_once(&self, needle: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let log = self.log();
            if log.contains(needle) || std::time::Instant::now() > deadline {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET http://ADDR/path`.
    pub fn get(&self, path: &str) -> HttpAnswer {
        http_request(&self.addr, "GET", path, &[])
    }

    /// Sends SIGTERM and waits (at most 40 s) for the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        terminate(&mut self.child)
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            terminate(&mut self.child);
        }
    }
}

/// An HTTP answer as [`http_request`] reads it.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl HttpAnswer {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One HTTP/1.1 request to `addr` (`127.0.0.1:PORT`) with `Connection: close`: `method`,
/// `path` (with its query) and extra `headers`. Status 0 when the server closed the
/// connection without answering. Panics when the exchange fails otherwise.
pub fn http_request(addr: &str, method: &str, path: &str, headers: &[(&str, &str)]) -> HttpAnswer {
    http_exchange(addr, method, path, headers, &[])
}

/// [`http_request`] with a request body (sent with its `Content-Length`). A server that
/// refuses a body may answer, and close the connection, before reading all of it: what it
/// answered is read all the same.
pub fn http_exchange(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpAnswer {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        request.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    // A connection cut mid-answer keeps what arrived.
    let _ = stream.read_to_end(&mut raw);
    let Some(split) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        // The server closed the connection before answering.
        return HttpAnswer {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
        };
    };
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut answer_body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        let mut decoded = Vec::new();
        let mut rest = &answer_body[..];
        loop {
            let line_end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size_text = String::from_utf8_lossy(&rest[..line_end]).into_owned();
            let size =
                usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
            rest = &rest[line_end + 2..];
            if size == 0 {
                break;
            }
            decoded.extend_from_slice(&rest[..size]);
            rest = &rest[size + 2..];
        }
        answer_body = decoded;
    }
    HttpAnswer {
        status,
        headers,
        body: answer_body,
    }
}

/// One kept-alive HTTP/1.1 connection, for benchmarks that must not time connection set-up:
/// requests go one after another, each answer read whole by its `Content-Length` (chunked
/// answers are not expected). Panics when an exchange fails.
pub struct KeepAlive {
    reader: BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
    host: String,
}

impl KeepAlive {
    /// A connection to `addr` (`127.0.0.1:PORT`), with Nagle's algorithm off.
    pub fn open(addr: &str) -> KeepAlive {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        KeepAlive {
            reader: BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
            host: addr.to_owned(),
        }
    }

    /// Sends `method path` with `headers` and `body` (with its `Content-Length` unless a GET
    /// without one); returns the status and the answer's body.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<u8>) {
        use std::io::{Read as _, Write as _};
        let mut request = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.host);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        if method != "GET" || !body.is_empty() {
            request.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        request.push_str("\r\n");
        self.writer.write_all(request.as_bytes()).unwrap();
        self.writer.write_all(body).unwrap();
        let mut status_line = String::new();
        self.reader.read_line(&mut status_line).unwrap();
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut answer = vec![0u8; length];
        self.reader.read_exact(&mut answer).unwrap();
        (status, answer)
    }
}

/// A throwaway `redis-server` on 127.0.0.1 (no persistence), stopped when dropped.
pub struct RedisServer {
    child: Child,
    /// `redis://127.0.0.1:PORT`.
    pub url: String,
}

impl RedisServer {
    /// Starts Debian's `redis-server` on a free port and waits until it accepts connections;
    /// `None` (after [`crate::unavailable`]) when it is not installed.
    pub fn start() -> Option<RedisServer> {
        if std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            crate::unavailable(
                "redis-server",
                "Debian's redis-server package is not installed",
            );
            return None;
        }
        crate::peer_ran("redis-server");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(RedisServer {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

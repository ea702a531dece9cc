//! A hostile registry: an HTTP/1.1 server on 127.0.0.1 whose every answer a test scripts, to
//! play the registry, CDN or token service that a real one will not be. It can redirect,
//! challenge from another realm, answer slowly and answer endlessly; [`Content`] serves
//! manifests and blobs the test wrote, as a registry would, for the requests the script does
//! not answer itself. Every request is recorded with its headers, and the server stops (its
//! slow and endless answers included) when dropped.
//!
//! ```no_run
//! use vouch_tests::hostile::{HostileServer, Reply};
//! let cdn = HostileServer::start(|_| Reply::status("401 Unauthorized", b""));
//! assert!(cdn.requests().is_empty());
//! ```

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::sha256_hex;

/// The longest a slow or endless answer goes on, whatever the script says: a test server
/// stops by itself.
const LONGEST_ANSWER: Duration = Duration::from_secs(300);

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path, without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

/// An answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete answer: status line text (`200 OK`), headers, body.
    Full {
        /// `200 OK`, `307 Temporary Redirect`, ...
        status: String,
        /// Headers besides `Content-Length`.
        headers: Vec<(String, String)>,
        /// The body.
        body: Vec<u8>,
    },
    /// `reply`, after `delay`.
    Slow(Duration, Box<Reply>),
    /// `200 OK` with `headers` and a chunked body that never ends: `chunk`, again and again,
    /// `interval` apart, until the client leaves or the server stops.
    Endless {
        /// Headers besides `Transfer-Encoding`.
        headers: Vec<(String, String)>,
        /// What each chunk holds.
        chunk: Vec<u8>,
        /// The pause between chunks.
        interval: Duration,
    },
}

impl Reply {
    /// `status` with a body and no other header.
    pub fn status(status: &str, body: &[u8]) -> Reply {
        Reply::Full {
            status: status.to_owned(),
            headers: Vec::new(),
            body: body.to_vec(),
        }
    }

    /// `status` with `headers` and `body`.
    pub fn with_headers(status: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        Reply::Full {
            status: status.to_owned(),
            headers: headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect(),
            body: body.to_vec(),
        }
    }

    /// `307 Temporary Redirect` to `location`.
    pub fn redirect(location: &str) -> Reply {
        Reply::with_headers("307 Temporary Redirect", &[("Location", location)], b"")
    }

    /// `401 Unauthorized` with the challenge `www_authenticate`.
    pub fn challenge(www_authenticate: &str) -> Reply {
        Reply::with_headers(
            "401 Unauthorized",
            &[
                ("WWW-Authenticate", www_authenticate),
                ("Content-Type", "application/json"),
            ],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
        )
    }

    /// This reply after `delay`.
    pub fn after(self, delay: Duration) -> Reply {
        Reply::Slow(delay, Box::new(self))
    }
}

/// What the server knows while it runs.
struct Shared {
    requests: Mutex<Vec<Request>>,
    stop: AtomicBool,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
}

/// A scripted server on 127.0.0.1; stops when dropped.
pub struct HostileServer {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    shared: Arc<Shared>,
}

impl HostileServer {
    /// Serves `script` on a free port: each request gets what `script` returns for it.
    pub fn start(script: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HostileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        listener.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared {
            requests: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            most_in_flight: AtomicUsize::new(0),
        });
        let script: Arc<dyn Fn(&Request) -> Reply + Send + Sync> = Arc::new(script);
        let server = shared.clone();
        std::thread::spawn(move || {
            while !server.stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (shared, script) = (server.clone(), script.clone());
                        std::thread::spawn(move || serve(stream, &shared, &*script));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        HostileServer { addr, shared }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far, in order of arrival.
    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    /// The most requests that were being answered at once.
    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
    }
}

/// Reads one request from `reader`; `None` at the end of the connection.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        target,
        headers,
        body,
    })
}

fn serve(stream: TcpStream, shared: &Shared, script: &(dyn Fn(&Request) -> Reply + Sync)) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    while let Some(request) = read_request(&mut reader) {
        shared.requests.lock().unwrap().push(request.clone());
        let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        shared.most_in_flight.fetch_max(now, Ordering::SeqCst);
        let reply = script(&request);
        let kept = send(&mut stream, &request, reply, shared);
        shared.in_flight.fetch_sub(1, Ordering::SeqCst);
        if !kept {
            return;
        }
    }
}

/// Sleeps `delay` in small steps, giving up when the server stops; false if it did.
fn pause(delay: Duration, shared: &Shared) -> bool {
    let until = Instant::now() + delay.min(LONGEST_ANSWER);
    while Instant::now() < until {
        if shared.stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10).min(until - Instant::now()));
    }
    true
}

/// Writes `reply`; false when the connection is to be closed.
fn send(stream: &mut TcpStream, request: &Request, reply: Reply, shared: &Shared) -> bool {
    match reply {
        Reply::Full {
            status,
            headers,
            body,
        } => {
            let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
            for (name, value) in &headers {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
            out.push_str("\r\n");
            let mut bytes = out.into_bytes();
            if request.method != "HEAD" {
                bytes.extend_from_slice(&body);
            }
            stream.write_all(&bytes).is_ok()
        }
        Reply::Slow(delay, reply) => pause(delay, shared) && send(stream, request, *reply, shared),
        Reply::Endless {
            headers,
            chunk,
            interval,
        } => {
            let mut out = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n".to_owned();
            for (name, value) in &headers {
                out.push_str(&format!("{name}: {value}\r\n"));
            }
            out.push_str("\r\n");
            if stream.write_all(out.as_bytes()).is_err() {
                return false;
            }
            let started = Instant::now();
            let mut framed = format!("{:x}\r\n", chunk.len()).into_bytes();
            framed.extend_from_slice(&chunk);
            framed.extend_from_slice(b"\r\n");
            while started.elapsed() < LONGEST_ANSWER {
                if stream.write_all(&framed).is_err() || !pause(interval, shared) {
                    return false;
                }
            }
            false
        }
    }
}

/// Manifests and blobs a [`HostileServer`] serves as a registry would (`/v2/`, manifests by
/// tag or digest, blobs by digest, `GET`/`HEAD`), and 404 for the referrers API (so clients
/// read the referrers tag schema).
#[derive(Default, Clone)]
pub struct Content {
    manifests: HashMap<String, (String, Vec<u8>)>,
    tags: HashMap<String, String>,
    blobs: HashMap<String, Vec<u8>>,
}

impl Content {
    /// Stores a blob; returns its descriptor with `media_type`.
    pub fn blob(&mut self, media_type: &str, bytes: Vec<u8>) -> serde_json::Value {
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        let descriptor = serde_json::json!({
            "mediaType": media_type,
            "digest": digest,
            "size": bytes.len(),
        });
        self.blobs.insert(digest, bytes);
        descriptor
    }

    /// Stores a manifest (its `mediaType` field is its content type), tagged `tag` when
    /// given; returns its digest.
    pub fn manifest(&mut self, tag: Option<&str>, manifest: &serde_json::Value) -> String {
        let bytes = serde_json::to_vec(manifest).unwrap();
        let digest = format!("sha256:{}", sha256_hex(&bytes));
        let media_type = manifest["mediaType"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.manifests.insert(digest.clone(), (media_type, bytes));
        if let Some(tag) = tag {
            self.tags.insert(tag.to_owned(), digest.clone());
        }
        digest
    }

    /// Whether `request` asks for a blob.
    pub fn is_blob(request: &Request) -> bool {
        request.path().contains("/blobs/sha256:")
    }

    /// The answer a registry holding this content gives `request`.
    pub fn answer(&self, request: &Request) -> Reply {
        let json = ("Content-Type", "application/json");
        let not_found = |code: &str| {
            Reply::with_headers(
                "404 Not Found",
                &[json],
                format!(r#"{{"errors":[{{"code":"{code}","message":"unknown"}}]}}"#).as_bytes(),
            )
        };
        let path = request.path();
        if path == "/v2/" {
            return Reply::with_headers("200 OK", &[json], b"{}");
        }
        if let Some((_, id)) = path.split_once("/manifests/") {
            let digest = self.tags.get(id).map_or(id, String::as_str);
            return match self.manifests.get(digest) {
                Some((media_type, bytes)) => Reply::with_headers(
                    "200 OK",
                    &[
                        ("Content-Type", media_type),
                        ("Docker-Content-Digest", digest),
                    ],
                    bytes,
                ),
                None => not_found("MANIFEST_UNKNOWN"),
            };
        }
        if let Some((_, digest)) = path.split_once("/blobs/") {
            return match self.blobs.get(digest) {
                Some(bytes) => Reply::with_headers(
                    "200 OK",
                    &[("Content-Type", "application/octet-stream")],
                    bytes,
                ),
                None => not_found("BLOB_UNKNOWN"),
            };
        }
        not_found("NAME_UNKNOWN")
    }
}

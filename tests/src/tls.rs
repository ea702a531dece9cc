//! TLS for the tests: a private CA and a server certificate made with openssl, and an HTTP
//! CONNECT proxy that tunnels to one address, so that an HTTPS server listening on 127.0.0.1
//! can be reached by a name that is not loopback (vouch, as docker, speaks plain HTTP to
//! loopback registries) without touching the machine's resolver: the client resolves nothing,
//! the proxy is asked for `name:port`, and the TLS handshake (SNI, certificate name) is the
//! client's with the server, end to end, as through a corporate proxy.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A private CA and a server certificate it issued.
pub struct TlsFiles {
    /// The CA's certificate (PEM).
    pub ca: PathBuf,
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

/// Makes, in `dir`, a CA (`CN=vouch test CA`, P-256, one day) and a server certificate for
/// `subject_alt_name` (openssl's form: `IP:127.0.0.1`, `DNS:registry.vouch.test`) with the
/// `serverAuth` extended key usage.
pub fn tls_files(dir: &Path, subject_alt_name: &str) -> TlsFiles {
    let p = |name: &str| dir.join(name);
    let s = |path: &PathBuf| path.to_str().unwrap().to_owned();
    let (ca_key, ca, key, csr, cert, ext) = (
        p("ca.key"),
        p("ca.pem"),
        p("server.key"),
        p("server.csr"),
        p("server.pem"),
        p("ext.cnf"),
    );
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    let (ca_key_s, ca_s) = (s(&ca_key), s(&ca));
    args.extend(["-keyout", &ca_key_s, "-out", &ca_s]);
    args.extend(["-days", "1", "-subj", "/CN=vouch test CA"]);
    crate::tool("openssl", &args);

    let mut args = vec!["req"];
    args.extend(ec);
    let (key_s, csr_s) = (s(&key), s(&csr));
    args.extend([
        "-keyout",
        &key_s,
        "-out",
        &csr_s,
        "-subj",
        "/CN=vouch test server",
    ]);
    crate::tool("openssl", &args);

    std::fs::write(
        &ext,
        format!("subjectAltName={subject_alt_name}\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    crate::tool(
        "openssl",
        &[
            "x509",
            "-req",
            "-in",
            &csr_s,
            "-CA",
            &ca_s,
            "-CAkey",
            &ca_key_s,
            "-CAcreateserial",
            "-out",
            &s(&cert),
            "-days",
            "1",
            "-extfile",
            &s(&ext),
        ],
    );
    TlsFiles { ca, cert, key }
}

/// An HTTP CONNECT proxy on 127.0.0.1 that tunnels every `CONNECT host:port`, whatever it
/// names, to one address, and records the `host:port` each tunnel was asked for. Anything
/// but CONNECT is answered 405. Stopped when dropped (open tunnels end with their sockets).
pub struct TunnelProxy {
    /// `http://127.0.0.1:PORT`, for `HTTPS_PROXY`.
    pub url: String,
    /// The `host:port` of every CONNECT, in order.
    pub tunnels: Arc<Mutex<Vec<String>>>,
    addr: String,
    stop: Arc<AtomicBool>,
}

impl TunnelProxy {
    /// Starts a proxy that tunnels to `target` (`127.0.0.1:PORT`).
    pub fn start(target: &str) -> TunnelProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (target, seen, stopped) = (target.to_owned(), tunnels.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let (target, seen) = (target.clone(), seen.clone());
                std::thread::spawn(move || tunnel(client, &target, &seen));
            }
        });
        TunnelProxy {
            url: format!("http://{addr}"),
            tunnels,
            addr,
            stop,
        }
    }

    /// How many tunnels have been asked for so far.
    pub fn count(&self) -> usize {
        self.tunnels.lock().unwrap().len()
    }
}

impl Drop for TunnelProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so that it sees the flag.
        let _ = TcpStream::connect(&self.addr);
    }
}

/// Serves one client connection: reads the request head, and for CONNECT opens `target`,
/// answers 200 and copies bytes both ways until either side closes.
fn tunnel(client: TcpStream, target: &str, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header == "\r\n" || header == "\n" => break,
            Ok(_) => {}
        }
    }
    let mut client_out = client.try_clone().unwrap();
    let mut words = request_line.split_whitespace();
    let (Some("CONNECT"), Some(authority)) = (words.next(), words.next()) else {
        let _ =
            client_out.write_all(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    seen.lock().unwrap().push(authority.to_owned());
    let Ok(upstream) = TcpStream::connect(target) else {
        let _ = client_out.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        return;
    };
    client_out
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    // Reading from `reader` forwards first whatever it buffered after the head.
    let mut upstream_in = upstream.try_clone().unwrap();
    let mut upstream_out = upstream;
    let mut client_in = reader;
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_in, &mut upstream_out);
        let _ = upstream_out.shutdown(Shutdown::Write);
    });
    let _ = std::io::copy(&mut upstream_in, &mut client_out);
    let _ = client_out.shutdown(Shutdown::Write);
    let _ = up.join();
}

//! A registry written here, for what Debian's registry does not do.
//! (Shared by two test targets, each using part of it.)
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What the registry does wrong with a blob, as a hostile or broken one
/// would.
#[derive(Clone, Copy)]
pub enum Lie {
    /// The blob and this many bytes more, without a Content-Length: the
    /// body ends when the connection does.
    Longer(usize),
    /// Zeros without end, without a Content-Length.
    Endless,
    /// 500 Internal Server Error.
    Fails,
}

/// A registry of our own making, for what Debian's registry does not do:
/// a Bearer token challenge (as Docker Hub's), Docker's media types (a
/// manifest list and a v2 manifest) and a zstd layer, and blobs that are
/// not what their manifest says ([`Lie`]). It serves the blobs of a
/// layout, and only to requests carrying the token it issued.
pub struct TokenRegistry {
    pub port: u16,
    pub stop: Arc<std::sync::atomic::AtomicBool>,
    /// Blob digest -> what is done wrong with it.
    pub lies: Arc<Mutex<BTreeMap<String, Lie>>>,
}

impl TokenRegistry {
    /// `tags`: tag -> (media type, blob digest).
    pub fn start(blobs: PathBuf, tags: Vec<(String, String, String)>) -> TokenRegistry {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let lies: Arc<Mutex<BTreeMap<String, Lie>>> = Arc::default();
        let (stopped, lying) = (stop.clone(), lies.clone());
        std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        let lies = lying.lock().unwrap().clone();
                        Self::answer(stream, port, &blobs, &tags, &lies);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        TokenRegistry { port, stop, lies }
    }

    /// From now on, do `lie` with the blob `digest` (None: serve it right).
    pub fn lie(&self, digest: &str, lie: Option<Lie>) {
        let mut lies = self.lies.lock().unwrap();
        match lie {
            Some(lie) => lies.insert(digest.to_string(), lie),
            None => lies.remove(digest),
        };
    }

    pub fn answer(
        mut stream: std::net::TcpStream,
        port: u16,
        blobs: &Path,
        tags: &[(String, String, String)],
        lies: &BTreeMap<String, Lie>,
    ) {
        use std::io::{BufRead, Write};
        let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        reader.read_line(&mut request).unwrap();
        let mut authorized = false;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line.trim().is_empty() {
                break;
            }
            authorized |= line.to_ascii_lowercase().starts_with("authorization: bearer issued-token");
        }
        let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
        let (status, headers, body): (&str, String, Vec<u8>) = if path.starts_with("/token?") {
            let ok = path.contains("scope=repository%3Atest%2Fhub%3Apull") && path.contains("service=test-registry");
            if ok {
                ("200 OK", "Content-Type: application/json\r\n".into(), br#"{"token":"issued-token"}"#.to_vec())
            } else {
                ("400 Bad Request", String::new(), vec![])
            }
        } else if !authorized {
            let challenge = format!("WWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"test-registry\",scope=\"repository:test/hub:pull\"\r\n");
            ("401 Unauthorized", challenge, br#"{"errors":[{"code":"UNAUTHORIZED"}]}"#.to_vec())
        } else if let Some(reference) = path.strip_prefix("/v2/test/hub/manifests/") {
            let found = tags.iter().find(|(tag, _, digest)| tag == reference || digest == reference);
            match found {
                Some((_, media_type, digest)) => {
                    let bytes = std::fs::read(blobs.join(&digest[7..])).unwrap();
                    ("200 OK", format!("Content-Type: {media_type}\r\nDocker-Content-Digest: {digest}\r\n"), bytes)
                }
                None => ("404 Not Found", String::new(), br#"{"errors":[{"code":"MANIFEST_UNKNOWN"}]}"#.to_vec()),
            }
        } else if let Some(digest) = path.strip_prefix("/v2/test/hub/blobs/") {
            let bytes = std::fs::read(blobs.join(digest.trim_start_matches("sha256:")));
            match (lies.get(digest), bytes) {
                (Some(Lie::Fails), _) => ("500 Internal Server Error", String::new(), vec![]),
                (Some(Lie::Endless), _) => {
                    let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                    let zeros = vec![0u8; 64 * 1024];
                    // Until the client hangs up (EPIPE: Rust ignores SIGPIPE).
                    let mut sent = stream.write_all(head.as_bytes());
                    while sent.is_ok() {
                        sent = stream.write_all(&zeros);
                    }
                    return;
                }
                (Some(Lie::Longer(extra)), Ok(mut bytes)) => {
                    bytes.resize(bytes.len() + extra, b'x');
                    let head = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
                    let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&bytes));
                    return;
                }
                (_, Ok(bytes)) => ("200 OK", String::new(), bytes),
                (_, Err(_)) => ("404 Not Found", String::new(), vec![]),
            }
        } else {
            ("404 Not Found", String::new(), vec![])
        };
        let head = format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
    }
}

impl Drop for TokenRegistry {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

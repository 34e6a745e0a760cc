//! A registry written here, for what Debian's registry does not do.

use std::path::{Path, PathBuf};

/// A registry of our own making, for what Debian's registry does not do:
/// a Bearer token challenge (as Docker Hub's), Docker's media types (a
/// manifest list and a v2 manifest) and a zstd layer. It serves the
/// blobs of a layout, and only to requests carrying the token it issued.
pub struct TokenRegistry {
    pub port: u16,
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl TokenRegistry {
    /// `tags`: tag -> (media type, blob digest).
    pub fn start(blobs: PathBuf, tags: Vec<(String, String, String)>) -> TokenRegistry {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::spawn(move || {
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        Self::answer(stream, port, &blobs, &tags);
                    }
                    Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
                }
            }
        });
        TokenRegistry { port, stop }
    }

    pub fn answer(mut stream: std::net::TcpStream, port: u16, blobs: &Path, tags: &[(String, String, String)]) {
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
            match std::fs::read(blobs.join(digest.trim_start_matches("sha256:"))) {
                Ok(bytes) => ("200 OK", String::new(), bytes),
                Err(_) => ("404 Not Found", String::new(), vec![]),
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

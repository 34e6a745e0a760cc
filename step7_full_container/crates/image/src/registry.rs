//! Talking to a registry: the OCI distribution API over HTTP.
//!
//! Two requests are all a pull needs:
//!
//! ```text
//! GET /v2/<repository>/manifests/<tag or digest>   (Accept: manifest types)
//! GET /v2/<repository>/blobs/<digest>
//! ```
//!
//! A registry may answer 401 with a `WWW-Authenticate` challenge. `Bearer`
//! (Docker Hub, most public registries) names a token service: ask it for
//! a token for `repository:<name>:pull` (anonymously, or with credentials)
//! and repeat the request with `Authorization: Bearer <token>`. `Basic`
//! wants a user and password on every request.
//! Read: distribution-spec spec.md; Docker's "Token Authentication
//! Specification".

use anyhow::{bail, Context, Result};
use reqwest::blocking::{Client, RequestBuilder, Response};
use reqwest::header::{ACCEPT, WWW_AUTHENTICATE};
use reqwest::StatusCode;
use std::collections::BTreeMap;

use crate::human;
use crate::reference::Reference;
use crate::{Refused, MAX_DOCUMENT};

/// What we can read, most specific first. Without the OCI types in
/// Accept, some registries answer "manifest unknown" for OCI images.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

enum Auth {
    None,
    Basic(String, String),
    Bearer(String),
}

pub struct Registry {
    http: Client,
    /// scheme://host
    base: String,
    repository: String,
    /// How the registry is named in messages and in credential files.
    name: String,
    credentials: Option<(String, String)>,
    auth: Auth,
}

/// A manifest (or index) as it arrived: its bytes are what its digest is
/// of, so they are kept as they are.
pub struct Fetched {
    pub bytes: Vec<u8>,
    pub media_type: String,
    pub digest: String,
}

impl Registry {
    // ANCHOR: connect
    pub fn connect(reference: &Reference, insecure: bool) -> Result<Registry> {
        // Plain HTTP only for this machine's own registries, or when asked.
        let scheme = if reference.is_loopback() || insecure { "http" } else { "https" };
        let http = Client::builder()
            .user_agent(concat!("step7/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(15))
            // Layers may take minutes: no limit on the whole request.
            .timeout(None)
            .build()?;
        Ok(Registry {
            http,
            base: format!("{scheme}://{}", reference.api_host()),
            repository: reference.repository.clone(),
            name: reference.registry.clone(),
            credentials: crate::auth::credentials(&reference.registry)?,
            auth: Auth::None,
        })
    }
    // ANCHOR_END: connect

    fn authorize(&self, request: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Auth::None => request,
            Auth::Basic(user, password) => request.basic_auth(user, Some(password)),
            Auth::Bearer(token) => request.bearer_auth(token),
        }
    }

    // ANCHOR: get
    /// GET `path`, answering an authentication challenge once.
    fn get(&mut self, path: &str, accept: &str) -> Result<Response> {
        let url = format!("{}/v2/{}/{path}", self.base, self.repository);
        for attempt in 0..2 {
            let request = self.authorize(self.http.get(&url).header(ACCEPT, accept));
            let response = request.send().map_err(|e| self.unreachable(e))?;
            if response.status() != StatusCode::UNAUTHORIZED || attempt == 1 {
                return self.check(response, &url);
            }
            let challenge =
                response.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            self.authenticate(&challenge)?;
        }
        unreachable!()
    }
    // ANCHOR_END: get

    // ANCHOR: authenticate
    fn authenticate(&mut self, challenge: &str) -> Result<()> {
        let (scheme, params) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "bearer" => {
                let realm =
                    params.get("realm").context("the registry's Bearer challenge names no token service (realm)")?;
                let scope =
                    params.get("scope").cloned().unwrap_or_else(|| format!("repository:{}:pull", self.repository));
                let mut query = vec![("scope", scope)];
                if let Some(service) = params.get("service") {
                    query.push(("service", service.clone()));
                }
                let mut request = self.http.get(realm).query(&query);
                if let Some((user, password)) = &self.credentials {
                    request = request.basic_auth(user, Some(password));
                }
                let response = request.send().map_err(|e| self.unreachable(e))?;
                let answer: serde_json::Value =
                    self.check(response, realm)?.json().context("the token service's answer is not JSON")?;
                // "token" in Docker's spec, "access_token" in OAuth2's.
                let token = answer["token"]
                    .as_str()
                    .or(answer["access_token"].as_str())
                    .context("the token service sent no token")?;
                self.auth = Auth::Bearer(token.to_string());
            }
            "basic" => {
                let Some((user, password)) = self.credentials.clone() else {
                    bail!("{} wants a user name and password: {}", self.name, crate::auth::HOW_TO_LOG_IN);
                };
                self.auth = Auth::Basic(user, password);
            }
            _ => bail!("{} asks for authentication step7 does not know ({challenge:?})", self.name),
        }
        Ok(())
    }
    // ANCHOR_END: authenticate

    fn unreachable(&self, err: reqwest::Error) -> anyhow::Error {
        anyhow::anyhow!("cannot reach the registry {} ({}): {err:#}", self.name, self.base)
    }

    /// An error status as a message that says what to do.
    fn check(&self, response: Response, url: &str) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body: String = response.text().unwrap_or_default().trim().chars().take(300).collect();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => match self.credentials {
                Some(_) => bail!("{} refused the credentials for {}: {body}", self.name, self.repository),
                None => bail!(
                    "{} refused access to {} ({status}): it is private or does not exist; {}",
                    self.name,
                    self.repository,
                    crate::auth::HOW_TO_LOG_IN
                ),
            },
            StatusCode::NOT_FOUND => bail!("not found in {}: {url} ({body})", self.name),
            _ => bail!("{} answered {status} for {url}: {body}", self.name),
        }
    }

    // ANCHOR: manifest
    /// The manifest or index `target` (a tag or a digest) names, checked
    /// against the digest when there is one to check against.
    pub fn manifest(&mut self, target: &str) -> Result<Fetched> {
        let accept = [OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST].join(", ");
        let response = self.get(&format!("manifests/{target}"), &accept)?;
        let media_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let claimed = response.headers().get("docker-content-digest").and_then(|v| v.to_str().ok()).map(str::to_string);
        // Manifests are small; a huge one is an attack on our memory.
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(response, MAX_DOCUMENT + 1), &mut bytes)
            .with_context(|| format!("cannot read the manifest {target} from {}", self.name))?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            bail!(Refused(format!(
                "the manifest {target} from {} is more than {}: refusing it",
                self.name,
                human(MAX_DOCUMENT)
            )));
        }
        let digest = crate::digest::of(&bytes);
        let expected = if target.starts_with("sha256:") { Some(target.to_string()) } else { claimed };
        if let Some(expected) = expected {
            if expected != digest {
                bail!("the manifest {target} from {} has digest {digest}, not {expected}: refusing it", self.name);
            }
        }
        Ok(Fetched { bytes, media_type, digest })
    }
    // ANCHOR_END: manifest

    /// The blob `digest` of `size` bytes (the manifest says), as a stream:
    /// checked by whoever stores it ([`crate::store::Store::put_blob`],
    /// which reads no more than `size` + 1 bytes of it). A registry that
    /// announces more (Content-Length) is refused before anything is read.
    pub fn blob(&mut self, digest: &str, size: u64) -> Result<Response> {
        let response = self.get(&format!("blobs/{digest}"), "*/*")?;
        if let Some(length) = response.content_length().filter(|length| *length > size) {
            bail!(Refused(format!(
                "the registry {} sends {length} bytes for {digest}, more than the manifest's {size}: refusing it",
                self.name
            )));
        }
        Ok(response)
    }
}

/// `Bearer realm="https://auth.docker.io/token",service="registry.docker.io"`
/// into ("Bearer", {realm: ..., service: ...}).
pub fn parse_challenge(header: &str) -> (String, BTreeMap<String, String>) {
    let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
    let mut params = BTreeMap::new();
    let mut rest = rest.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_string();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').unwrap_or(quoted.len());
            (&quoted[..end], quoted.get(end + 1..).unwrap_or(""))
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (&after[..end], &after[end..])
        };
        params.insert(key, value.to_string());
        rest = next.trim_start_matches(',').trim();
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    #[test]
    fn challenge() {
        let (scheme, params) = super::parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#,
        );
        assert_eq!(scheme, "Bearer");
        assert_eq!(params["realm"], "https://auth.docker.io/token");
        assert_eq!(params["service"], "registry.docker.io");
        assert_eq!(params["scope"], "repository:library/alpine:pull");
        let (scheme, params) = super::parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!((scheme.as_str(), params["realm"].as_str()), ("Basic", "Registry Realm"));
    }
}

//! The OCI distribution client (distribution-spec v1.1 `spec.md`): manifests and blobs,
//! pulled with hard size limits and digest checks, pushed with monolithic uploads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode};
use serde::Deserialize;
use vouch_keys::Digest;

use crate::auth::{Challenge, Credentials, Secret, parse_challenge};
use crate::manifest::{Descriptor, FetchedManifest, media_types, stated_media_type};
use crate::reference::Reference;
use crate::{RegistryError, TransportFailure};

/// Hard limits on what is read from a registry or layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest manifest accepted, in bytes. Default 4 MiB (what distribution itself accepts).
    pub max_manifest_bytes: u64,
    /// Most layers accepted in a signature manifest. Default 1,000.
    pub max_signature_layers: usize,
    /// Largest signature payload blob accepted, in bytes. Default 4 MiB.
    pub max_signature_blob_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_signature_layers: 1000,
            max_signature_blob_bytes: 4 * 1024 * 1024,
        }
    }
}

/// How the client behaves.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Use plain HTTP for every registry. Without it, only loopback registries
    /// (`localhost`, `127.0.0.0/8`, `::1`) are spoken to in plain HTTP, as docker does.
    pub allow_http: bool,
    /// Size limits.
    pub limits: Limits,
    /// Attempts for a request that fails transiently (transport failure, 5xx, 429). Default 3.
    pub attempts: u32,
    /// Delay before the first retry; doubled for each further one. Default 200 ms.
    pub retry_delay: Duration,
    /// Time allowed for one request, body included. Default 60 s.
    pub timeout: Duration,
    /// Time allowed to establish a connection. Default 10 s.
    pub connect_timeout: Duration,
    /// Where credentials come from.
    pub credentials: Credentials,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            allow_http: false,
            limits: Limits::default(),
            attempts: 3,
            retry_delay: Duration::from_millis(200),
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            credentials: Credentials::default(),
        }
    }
}

/// What a token is for: pulling, or pulling and pushing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Access {
    Pull,
    Push,
}

impl Access {
    fn actions(self) -> &'static str {
        match self {
            Access::Pull => "pull",
            Access::Push => "pull,push",
        }
    }
}

/// Registry, repository and access: what one authorization is good for.
type AuthKey = (String, String, Access);

/// A client for OCI distribution registries. Clones share connections and the cache of
/// authorizations (per registry, repository and access).
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    options: ClientOptions,
    authorizations: Arc<Mutex<HashMap<AuthKey, HeaderValue>>>,
}

/// The registry's error body (distribution-spec "Error Codes").
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
}

fn transport_error(operation: &str, error: &reqwest::Error) -> RegistryError {
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut closed = false;
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains("closed") || text.contains("reset") || text.contains("incomplete") {
            closed = true;
        }
        detail = text;
        source = e.source();
    }
    let failure = if error.is_timeout() {
        TransportFailure::Timeout
    } else if error.is_connect() {
        TransportFailure::Connect
    } else if closed {
        TransportFailure::Closed
    } else {
        TransportFailure::Other
    };
    RegistryError::Transport {
        operation: operation.to_owned(),
        failure,
        detail,
    }
}

impl RegistryClient {
    /// A client with `options`. Fails only if the TLS stack cannot be initialised.
    pub fn new(options: ClientOptions) -> Result<Self, RegistryError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .build()
            .map_err(|e| transport_error("initialising the HTTP client", &e))?;
        Ok(Self {
            http,
            options,
            authorizations: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The options in force.
    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    fn base_url(&self, reference: &Reference) -> String {
        let scheme = if self.options.allow_http || reference.is_loopback() {
            "http"
        } else {
            "https"
        };
        format!(
            "{scheme}://{}/v2/{}",
            reference.api_host(),
            reference.repository()
        )
    }

    /// Runs `attempt` until it succeeds, fails permanently, or the attempts run out.
    async fn retrying<T>(
        &self,
        mut attempt: impl AsyncFnMut() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError> {
        let mut made = 1;
        let mut delay = self.options.retry_delay;
        loop {
            match attempt().await {
                Err(e) if e.is_transient() && made < self.options.attempts => {
                    tracing::debug!(error = %e, attempt = made, "retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    made += 1;
                }
                Err(e) if e.is_transient() && made > 1 => {
                    return Err(RegistryError::Retried {
                        attempts: made,
                        source: Box::new(e),
                    });
                }
                other => return other,
            }
        }
    }

    /// Sends one request, answering an authentication challenge once if the registry
    /// issues one. Returns the response whatever its status.
    async fn send(
        &self,
        reference: &Reference,
        access: Access,
        operation: &str,
        build: &(dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Sync),
    ) -> Result<Response, RegistryError> {
        let key = (
            reference.registry().to_owned(),
            reference.repository().to_owned(),
            access,
        );
        let cached = self.cached_authorization(&key);
        let mut request = build(&self.http);
        if let Some(value) = &cached {
            request = request.header(header::AUTHORIZATION, value.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_error(operation, &e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let Some(challenge) = response
            .headers()
            .get(header::WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_challenge)
        else {
            return Ok(response);
        };
        let authorization = self
            .authorize(reference, access, operation, &challenge)
            .await?;
        if let Ok(mut cache) = self.authorizations.lock() {
            cache.insert(key, authorization.clone());
        }
        build(&self.http)
            .header(header::AUTHORIZATION, authorization)
            .send()
            .await
            .map_err(|e| transport_error(operation, &e))
    }

    fn cached_authorization(&self, key: &AuthKey) -> Option<HeaderValue> {
        self.authorizations
            .lock()
            .ok()
            .and_then(|cache| cache.get(key).cloned())
    }

    /// Answers a challenge: basic credentials directly, or a bearer token from the realm
    /// (distribution `token.md`; an identity token is exchanged per `oauth.md`).
    async fn authorize(
        &self,
        reference: &Reference,
        access: Access,
        operation: &str,
        challenge: &Challenge,
    ) -> Result<HeaderValue, RegistryError> {
        let registry = reference.registry();
        let secret = self.options.credentials.lookup(registry)?;
        let sensitive = |value: String| {
            let mut value =
                HeaderValue::from_str(&value).map_err(|_| RegistryError::Credentials {
                    registry: registry.to_owned(),
                    reason: "credentials contain characters not allowed in a header".into(),
                })?;
            value.set_sensitive(true);
            Ok(value)
        };
        let basic = |user: &str, password: &str| {
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        };
        match challenge.scheme.as_str() {
            "basic" => match secret {
                Some(Secret::UsernamePassword(user, password)) => {
                    sensitive(format!("Basic {}", basic(&user, &password)))
                }
                _ => Err(RegistryError::Unauthorized {
                    operation: operation.to_owned(),
                    status: 401,
                    message: "the registry wants a user name and password".into(),
                }),
            },
            "bearer" => {
                let realm = challenge
                    .params
                    .get("realm")
                    .ok_or_else(|| RegistryError::Status {
                        operation: operation.to_owned(),
                        status: 401,
                        message: "bearer challenge without a realm".into(),
                    })?;
                let mut url = reqwest::Url::parse(realm).map_err(|_| RegistryError::Status {
                    operation: operation.to_owned(),
                    status: 401,
                    message: format!("bearer challenge realm \"{realm}\" is not a URL"),
                })?;
                let scope = format!("repository:{}:{}", reference.repository(), access.actions());
                let service = challenge.params.get("service");
                let token_operation = format!("requesting a token from {realm}");
                let request = match &secret {
                    Some(Secret::IdentityToken(token)) => {
                        let mut form = vec![
                            ("grant_type", "refresh_token".to_owned()),
                            ("refresh_token", token.to_string()),
                            ("client_id", "vouch".to_owned()),
                            ("scope", scope.clone()),
                        ];
                        if let Some(service) = service {
                            form.push(("service", service.clone()));
                        }
                        let body = form
                            .iter()
                            .map(|(k, v)| format!("{k}={}", form_encode(v)))
                            .collect::<Vec<_>>()
                            .join("&");
                        self.http
                            .post(url)
                            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                            .body(body)
                    }
                    _ => {
                        {
                            let mut query = url.query_pairs_mut();
                            if let Some(service) = service {
                                query.append_pair("service", service);
                            }
                            query.append_pair("scope", &scope);
                        }
                        let request = self.http.get(url);
                        match &secret {
                            Some(Secret::UsernamePassword(user, password)) => request.header(
                                header::AUTHORIZATION,
                                sensitive(format!("Basic {}", basic(user, password)))?,
                            ),
                            _ => request,
                        }
                    }
                };
                let response = request
                    .send()
                    .await
                    .map_err(|e| transport_error(&token_operation, &e))?;
                let response = check_status(response, &token_operation).await?;
                let body = read_limited(response, 1024 * 1024, &token_operation).await?;
                let token: TokenResponse =
                    serde_json::from_slice(&body).map_err(|_| RegistryError::Status {
                        operation: token_operation.clone(),
                        status: 200,
                        message: "token response is not the expected JSON".into(),
                    })?;
                let token =
                    token
                        .token
                        .or(token.access_token)
                        .ok_or_else(|| RegistryError::Status {
                            operation: token_operation,
                            status: 200,
                            message: "token response has no token".into(),
                        })?;
                sensitive(format!("Bearer {token}"))
            }
            other => Err(RegistryError::Unauthorized {
                operation: operation.to_owned(),
                status: 401,
                message: format!("unsupported authentication scheme \"{other}\""),
            }),
        }
    }

    /// Fetches a manifest by tag or digest. `None` when the registry says it does not exist.
    /// Refuses bodies over [`Limits::max_manifest_bytes`] (before reading them when the size is
    /// announced, while streaming otherwise), and content that does not hash to the digest
    /// asked for or announced in `Docker-Content-Digest`.
    pub(crate) async fn get_manifest(
        &self,
        reference: &Reference,
    ) -> Result<Option<FetchedManifest>, RegistryError> {
        let id = manifest_id(reference);
        let url = format!("{}/manifests/{id}", self.base_url(reference));
        let operation = format!("GET manifest {reference}");
        let accept = media_types::ACCEPTED_MANIFESTS.join(", ");
        let limit = self.options.limits.max_manifest_bytes;
        self.retrying(async || {
            let response = self
                .send(reference, Access::Pull, &operation, &|http| {
                    http.get(&url).header(header::ACCEPT, &accept)
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let response = check_status(response, &operation).await?;
            let headers = response.headers().clone();
            let what = format!("manifest {reference}");
            let bytes = read_limited(response, limit, &what).await?;
            let announced = headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<Digest>().ok());
            let digest = match (reference.digest(), announced) {
                (Some(expected), _) => verified(&what, expected, &bytes)?,
                (None, Some(announced)) => verified(&what, &announced, &bytes)?,
                (None, None) => Digest::sha256(&bytes),
            };
            let media_type = content_type(&headers)
                .or_else(|| stated_media_type(&bytes))
                .unwrap_or_default();
            Ok(Some(FetchedManifest {
                digest,
                media_type,
                bytes,
            }))
        })
        .await
    }

    /// Fetches a blob, refusing it if the descriptor's size exceeds `limit`, if more bytes
    /// arrive than the descriptor says, or if the content does not hash to its digest.
    pub(crate) async fn get_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let what = format!("blob {} in {}", descriptor.digest, reference.repository());
        if descriptor.size > limit {
            return Err(RegistryError::TooLarge { what, limit });
        }
        let url = format!("{}/blobs/{}", self.base_url(reference), descriptor.digest);
        let operation = format!("GET {what}");
        self.retrying(async || {
            let response = self
                .send(reference, Access::Pull, &operation, &|http| http.get(&url))
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Err(RegistryError::NotFound { what: what.clone() });
            }
            let response = check_status(response, &operation).await?;
            let bytes = read_limited(response, descriptor.size, &what).await?;
            verified(&what, &descriptor.digest, &bytes)?;
            Ok(bytes)
        })
        .await
    }

    /// Uploads `bytes` as a blob unless the registry already has it (HEAD first), with a
    /// monolithic upload (POST, then PUT with the digest). Returns its descriptor.
    pub(crate) async fn put_blob(
        &self,
        reference: &Reference,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Descriptor, RegistryError> {
        let descriptor = Descriptor::of(media_type, bytes);
        let base = self.base_url(reference);
        let what = format!("blob {} in {}", descriptor.digest, reference.repository());
        let head_url = format!("{base}/blobs/{}", descriptor.digest);
        let head_operation = format!("HEAD {what}");
        let exists = self
            .retrying(async || {
                let response = self
                    .send(reference, Access::Push, &head_operation, &|http| {
                        http.head(&head_url)
                    })
                    .await?;
                match response.status() {
                    StatusCode::OK => Ok(true),
                    StatusCode::NOT_FOUND => Ok(false),
                    _ => check_status(response, &head_operation).await.map(|_| false),
                }
            })
            .await?;
        if exists {
            return Ok(descriptor);
        }
        let operation = format!("uploading {what}");
        let body = bytes::Bytes::copy_from_slice(bytes);
        self.retrying(async || {
            let start = self
                .send(reference, Access::Push, &operation, &|http| {
                    http.post(format!("{base}/blobs/uploads/"))
                        .header(header::CONTENT_LENGTH, "0")
                })
                .await?;
            let start = check_status(start, &operation).await?;
            let location = start
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| RegistryError::Status {
                    operation: operation.clone(),
                    status: start.status().as_u16(),
                    message: "upload started without a Location".into(),
                })?;
            let mut url = start
                .url()
                .join(location)
                .map_err(|_| RegistryError::Status {
                    operation: operation.clone(),
                    status: start.status().as_u16(),
                    message: format!("upload Location \"{location}\" is not a URL"),
                })?;
            url.query_pairs_mut()
                .append_pair("digest", &descriptor.digest.to_string());
            let done = self
                .send(reference, Access::Push, &operation, &|http| {
                    http.request(Method::PUT, url.clone())
                        .header(header::CONTENT_TYPE, "application/octet-stream")
                        .body(body.clone())
                })
                .await?;
            check_status(done, &operation).await.map(|_| ())
        })
        .await?;
        Ok(descriptor)
    }

    /// Uploads a manifest under `tag` (or by its digest when `tag` is `None`) and returns its
    /// digest.
    pub(crate) async fn put_manifest(
        &self,
        reference: &Reference,
        tag: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let digest = Digest::sha256(bytes);
        let id = tag.map_or_else(|| digest.to_string(), str::to_owned);
        let url = format!("{}/manifests/{id}", self.base_url(reference));
        let operation = format!("PUT manifest {}:{id}", reference.with_tag("x").repository());
        let body = bytes::Bytes::copy_from_slice(bytes);
        self.retrying(async || {
            let response = self
                .send(reference, Access::Push, &operation, &|http| {
                    http.put(&url)
                        .header(header::CONTENT_TYPE, media_type)
                        .body(body.clone())
                })
                .await?;
            check_status(response, &operation).await.map(|_| ())
        })
        .await?;
        Ok(digest)
    }
}

/// The tag or digest that names a manifest in a URL.
fn manifest_id(reference: &Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(digest), _) => digest.to_string(),
        (None, Some(tag)) => tag.to_owned(),
        (None, None) => "latest".to_owned(),
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
        .filter(|v| !v.is_empty() && v != "application/octet-stream" && v != "text/plain")
}

fn verified(what: &str, expected: &Digest, bytes: &[u8]) -> Result<Digest, RegistryError> {
    let mut hasher = expected.hasher();
    hasher.update(bytes);
    hasher
        .finish()
        .map(|()| expected.clone())
        .map_err(|found| RegistryError::DigestMismatch {
            what: what.to_owned(),
            expected: expected.clone(),
            found,
        })
}

/// Turns a non-success answer into an error carrying the registry's own message.
async fn check_status(response: Response, operation: &str) -> Result<Response, RegistryError> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let body = read_limited(response, 64 * 1024, operation)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .and_then(|b| {
            b.errors
                .into_iter()
                .next()
                .map(|e| format!("{} {}", e.code, e.message).trim().to_owned())
        })
        .unwrap_or_else(|| status.canonical_reason().unwrap_or_default().to_owned());
    let operation = operation.to_owned();
    let status = status.as_u16();
    Err(match status {
        401 | 403 => RegistryError::Unauthorized {
            operation,
            status,
            message,
        },
        404 => RegistryError::NotFound { what: operation },
        _ => RegistryError::Status {
            operation,
            status,
            message,
        },
    })
}

/// Reads a body of at most `limit` bytes: refused up front when `Content-Length` says more,
/// and as soon as more arrives otherwise.
async fn read_limited(
    mut response: Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>, RegistryError> {
    let too_large = || RegistryError::TooLarge {
        what: what.to_owned(),
        limit,
    };
    if response.content_length().is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let mut body = Vec::with_capacity(response.content_length().unwrap_or(0) as usize);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(&format!("reading {what}"), &e))?
    {
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_escapes_reserved_bytes() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }

    #[test]
    fn plain_http_only_for_loopback_unless_allowed() {
        let client = RegistryClient::new(ClientOptions::default()).unwrap();
        let url = |r: &str| client.base_url(&Reference::parse(r).unwrap());
        assert_eq!(url("127.0.0.1:5000/a"), "http://127.0.0.1:5000/v2/a");
        assert_eq!(url("localhost/a/b"), "http://localhost/v2/a/b");
        assert_eq!(url("ghcr.io/o/r"), "https://ghcr.io/v2/o/r");
        assert_eq!(
            url("alpine"),
            "https://registry-1.docker.io/v2/library/alpine"
        );
        assert_eq!(url("10.0.0.5:5000/a"), "https://10.0.0.5:5000/v2/a");
        let insecure = RegistryClient::new(ClientOptions {
            allow_http: true,
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            insecure.base_url(&Reference::parse("10.0.0.5:5000/a").unwrap()),
            "http://10.0.0.5:5000/v2/a"
        );
    }

    #[test]
    fn manifest_id_prefers_the_digest() {
        let digest = Digest::sha256(b"m");
        let r = Reference::parse(&format!("example.com/r:t@{digest}")).unwrap();
        assert_eq!(manifest_id(&r), digest.to_string());
        assert_eq!(
            manifest_id(&Reference::parse("example.com/r").unwrap()),
            "latest"
        );
    }
}

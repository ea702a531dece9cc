//! The OCI distribution client (distribution-spec v1.1 `spec.md`): manifests and blobs,
//! pulled with hard size limits and digest checks, pushed with monolithic uploads.

mod tags;
mod upload;

pub(crate) use upload::UploadStart;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Response, StatusCode};
use serde::Deserialize;
use vouch_keys::Digest;

use crate::auth::{Challenge, Credentials, Secret, parse_challenge};
use crate::manifest::{
    Descriptor, FetchedManifest, ImageIndex, Manifest, media_types, stated_media_type,
};
use crate::reference::Reference;
use crate::store::PushedManifest;
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
    /// Most referrers accepted for one subject: in a referrers API answer (all pages together)
    /// or a referrers tag schema index. Default 1,000.
    pub max_referrers: usize,
    /// Most bytes of evidence read about one image, all signature, attestation and referrer
    /// manifests and payloads together, a payload counted once for each layer that names
    /// it ([`EvidenceBudget`](crate::EvidenceBudget)). Default 64 MiB.
    pub max_evidence_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_manifest_bytes: 4 * 1024 * 1024,
            max_signature_layers: 1000,
            max_signature_blob_bytes: 4 * 1024 * 1024,
            max_referrers: 1000,
            max_evidence_bytes: 64 * 1024 * 1024,
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
    /// CA certificates trusted besides the system's store (cosign's `--registry-cacert`).
    pub ca_certificates: crate::CaCertificates,
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
            ca_certificates: crate::CaCertificates::default(),
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
    /// Shared by the clones: a client is cloned into every store, and options are large.
    options: Arc<ClientOptions>,
    shared: Arc<Shared>,
}

/// What the clones of one client learn together.
#[derive(Default)]
struct Shared {
    /// Authorizations obtained, per registry, repository and access.
    authorizations: Mutex<HashMap<AuthKey, HeaderValue>>,
    /// What each registry (API host) has shown of its referrers API
    /// ([`RegistryClient::get_referrers`]).
    referrers_api: Mutex<HashMap<String, ReferrersApi>>,
}

/// Whether a registry has a referrers API, once known: `Some(false)` after it answered a
/// referrers request with 404 (distribution-spec v1.1: a registry with the API must not), so
/// its referrers are read from the tag schema without asking again; `Some(true)` after it
/// answered one with an index. Whoever asks while it is not known holds the lock until the
/// answer: requests for the same registry starting together (a CLI deciding eight images at
/// once, a server's first requests) wait for that one answer instead of all asking.
type ReferrersApi = Arc<tokio::sync::Mutex<Option<bool>>>;

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

/// The HTTP client every vouch request goes through: rustls with the system's roots (read on
/// the first HTTPS connection, `tls.rs`) and `options.ca_certificates`, vouch's user agent, the
/// request and connect timeouts of `options`.
pub(crate) fn http_client(options: &ClientOptions) -> Result<reqwest::Client, RegistryError> {
    // Proxies as docker decides them (`proxy.rs`): never for loopback, `NO_PROXY` honoured.
    // With no proxy set, none is asked about (reqwest parses each request's URL to ask).
    let mut builder = reqwest::Client::builder().no_proxy();
    if crate::proxy::ProxyEnv::get().any() {
        builder = builder.proxy(reqwest::Proxy::custom(|url| {
            crate::proxy::ProxyEnv::get().proxy_for(url).cloned()
        }));
    }
    builder
        .tls_backend_preconfigured(crate::tls::client_config(&options.ca_certificates)?)
        .user_agent(concat!("vouch/", env!("CARGO_PKG_VERSION")))
        .timeout(options.timeout)
        .connect_timeout(options.connect_timeout)
        .build()
        .map_err(|e| transport_error("initialising the HTTP client", &e))
}

/// Runs `attempt` until it succeeds, fails permanently, or `options.attempts` run out,
/// sleeping `options.retry_delay` (doubled each time) between attempts. Only transient
/// failures ([`RegistryError::is_transient`]) are retried; one that persists is wrapped in
/// [`RegistryError::Retried`].
///
/// `attempt` is a closure returning a future rather than an async closure: rustc cannot
/// yet prove an async closure's future `Send` for every lifetime it borrows, which would
/// keep every future of this crate off multi-threaded runtimes' `spawn`.
pub(crate) async fn retrying<T, F>(
    options: &ClientOptions,
    mut attempt: impl FnMut() -> F,
) -> Result<T, RegistryError>
where
    F: Future<Output = Result<T, RegistryError>>,
{
    let mut made = 1;
    let mut delay = options.retry_delay;
    loop {
        match attempt().await {
            Err(e) if e.is_transient() && made < options.attempts => {
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

/// `scheme://host:port` of `url`, for messages (never its path or query, which may carry
/// tokens).
fn origin_text(url: &reqwest::Url) -> String {
    url.origin().ascii_serialization()
}

/// `url` as the log shows it: scheme, host, port and path; a query is shown as `?…`, since a
/// redirect to storage may carry a signature there, and user information is never shown.
fn logged_url(url: &reqwest::Url) -> String {
    format!(
        "{}{}{}",
        url.origin().ascii_serialization(),
        url.path(),
        if url.query().is_some() { "?…" } else { "" }
    )
}

/// Sends the request `builder` makes, logging the exchange at debug level (`-v`): method,
/// URL ([`logged_url`]), status, length and time, or the failure. Headers, and so
/// credentials, are never logged.
pub(crate) async fn exchange(builder: reqwest::RequestBuilder) -> Result<Response, reqwest::Error> {
    let (http, request) = builder.build_split();
    execute_logged(&http, request?).await
}

/// [`exchange`] for a request already built.
pub(crate) async fn execute_logged(
    http: &reqwest::Client,
    request: reqwest::Request,
) -> Result<Response, reqwest::Error> {
    if !tracing::enabled!(tracing::Level::DEBUG) {
        return http.execute(request).await;
    }
    let method = request.method().clone();
    let url = logged_url(request.url());
    let started = std::time::Instant::now();
    let result = http.execute(request).await;
    let ms = started.elapsed().as_millis();
    match &result {
        Ok(response) => {
            let length = response
                .content_length()
                .map_or_else(|| "length not given".to_owned(), |n| format!("{n} bytes"));
            let redirected = if logged_url(response.url()) == url {
                String::new()
            } else {
                format!(", from {}", logged_url(response.url()))
            };
            tracing::debug!(
                "{method} {url} -> {} ({length}, {ms} ms{redirected})",
                response.status().as_u16()
            );
        }
        Err(error) => tracing::debug!("{method} {url} -> failed after {ms} ms: {error}"),
    }
    result
}

/// Whether `url` names a loopback host, by the rule registries are held to.
fn is_loopback_url(url: &reqwest::Url) -> bool {
    url.host_str()
        .is_some_and(crate::reference::is_loopback_registry)
}

/// A transport failure of `operation`, classified ([`TransportFailure`]) with the innermost
/// cause as detail.
pub(crate) fn transport_error(operation: &str, error: &reqwest::Error) -> RegistryError {
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(error);
    let mut closed = false;
    let mut not_tls = false;
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains("closed") || text.contains("reset") || text.contains("incomplete") {
            closed = true;
        }
        // rustls, given an HTTP answer where a TLS record should be.
        if text.contains("InvalidContentType") {
            not_tls = true;
        }
        detail = text;
        source = e.source();
    }
    let certificate = crate::tls::certificate_error(error);
    if let Some(reason) = &certificate {
        detail.clone_from(reason);
    }
    if let Some(proxy) = error
        .url()
        .and_then(|url| crate::proxy::ProxyEnv::get().proxy_for(url))
    {
        detail = format!(
            "{detail} (through the proxy {})",
            crate::proxy::shown(proxy)
        );
    }
    let failure = if error.is_timeout() {
        TransportFailure::Timeout
    } else if certificate.is_some() {
        TransportFailure::Certificate
    } else if not_tls {
        TransportFailure::NotTls
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
        let http = http_client(&options)?;
        Ok(Self {
            http,
            options: Arc::new(options),
            shared: Arc::default(),
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

    /// Runs `attempt` until it succeeds, fails permanently, or the attempts run out
    /// ([`retrying`] with this client's options).
    async fn retrying<T, F>(&self, attempt: impl FnMut() -> F) -> Result<T, RegistryError>
    where
        F: Future<Output = Result<T, RegistryError>>,
    {
        retrying(&self.options, attempt).await
    }

    /// Sends one request, answering an authentication challenge once if the registry
    /// issues one. Returns the response whatever its status.
    ///
    /// Credentials belong to the registry's origin (scheme, host, port): a request to another
    /// origin (an upload `Location` on a storage host) carries none, redirects to another
    /// origin lose them (reqwest drops `Authorization` across hosts), and a challenge from
    /// anywhere but the registry is not answered: a blob redirected to a CDN that then asks
    /// for authentication, naming a token service of its own, gets none of the registry's
    /// credentials (the CVE-2020-15157 pattern) and fails with
    /// [`RegistryError::CredentialsWithheld`].
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
        let registry = reqwest::Url::parse(&self.base_url(reference))
            .map_err(|e| RegistryError::InvalidReference {
                input: reference.to_string(),
                reason: format!("cannot form the registry URL: {e}"),
            })?
            .origin();
        let mut request = build(&self.http)
            .build()
            .map_err(|e| transport_error(operation, &e))?;
        let own = request.url().origin() == registry;
        if own && let Some(value) = self.cached_authorization(&key) {
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        let response = execute_logged(&self.http, request)
            .await
            .map_err(|e| transport_error(operation, &e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        if !own || response.url().origin() != registry {
            return Err(RegistryError::CredentialsWithheld {
                operation: operation.to_owned(),
                registry: reference.registry().to_owned(),
                reason: format!(
                    "{}, which is not the registry, asks for authentication",
                    origin_text(response.url())
                ),
            });
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
        if let Ok(mut cache) = self.shared.authorizations.lock() {
            cache.insert(key, authorization.clone());
        }
        exchange(build(&self.http).header(header::AUTHORIZATION, authorization))
            .await
            .map_err(|e| transport_error(operation, &e))
    }

    fn cached_authorization(&self, key: &AuthKey) -> Option<HeaderValue> {
        self.shared
            .authorizations
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
                // A token request carries the registry's credentials: over HTTPS only, but
                // for a loopback realm (as docker speaks plain HTTP to loopback registries).
                if url.scheme() != "https" && !is_loopback_url(&url) {
                    return Err(RegistryError::CredentialsWithheld {
                        operation: operation.to_owned(),
                        registry: registry.to_owned(),
                        reason: format!(
                            "the token service \"{realm}\" is not HTTPS and not on this machine"
                        ),
                    });
                }
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
                let response = exchange(request)
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
        let (url, operation, accept) = (&url, &operation, &accept);
        self.retrying(|| async move {
            let response = self
                .send(reference, Access::Pull, operation, &|http| {
                    http.get(url).header(header::ACCEPT, accept)
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let response = check_status(response, operation).await?;
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
        let what = blob_what(reference, descriptor);
        if descriptor.size > limit {
            return Err(RegistryError::TooLarge { what, limit });
        }
        let what = &what;
        self.retrying(|| async move {
            let response = self.blob_response(reference, descriptor, what).await?;
            let bytes = read_limited(response, descriptor.size, what).await?;
            verified(what, &descriptor.digest, &bytes)?;
            Ok(bytes)
        })
        .await
    }

    /// Starts fetching a blob and returns the response to stream its body from; the caller
    /// checks size and digest as it reads. Only the request is retried: a body that breaks
    /// off is the reader's error.
    pub(crate) async fn open_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
    ) -> Result<Response, RegistryError> {
        let what = &blob_what(reference, descriptor);
        self.retrying(|| async move { self.blob_response(reference, descriptor, what).await })
            .await
    }

    /// One `GET` of a blob: the successful response, [`RegistryError::NotFound`] for a 404.
    async fn blob_response(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        what: &str,
    ) -> Result<Response, RegistryError> {
        let url = format!("{}/blobs/{}", self.base_url(reference), descriptor.digest);
        let operation = format!("GET {what}");
        let response = self
            .send(reference, Access::Pull, &operation, &|http| http.get(&url))
            .await?;
        if response.status() == StatusCode::NOT_FOUND {
            return Err(RegistryError::NotFound {
                what: what.to_owned(),
            });
        }
        check_status(response, &operation).await
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
        if self.has_blob(reference, &descriptor.digest, true).await? {
            return Ok(descriptor);
        }
        let body = bytes::Bytes::copy_from_slice(bytes);
        let (body, digest) = (&body, &descriptor.digest);
        self.retrying(|| async move {
            match self.start_upload(reference, digest, None).await? {
                UploadStart::Mounted => Ok(()),
                UploadStart::Session(url) => {
                    self.finish_upload(
                        reference,
                        url,
                        digest,
                        body.clone().into(),
                        self.options.timeout,
                    )
                    .await
                }
            }
        })
        .await?;
        Ok(descriptor)
    }

    /// Uploads a manifest under `tag` (or by its digest when `tag` is `None`). Returns its
    /// digest and the `OCI-Subject` header of the registry's answer: a registry with the
    /// referrers API sends it for a manifest with a `subject`, to say it recorded the
    /// referrer itself (distribution-spec v1.1 "Pushing Manifests with Subject").
    pub(crate) async fn put_manifest(
        &self,
        reference: &Reference,
        tag: Option<&str>,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<PushedManifest, RegistryError> {
        let digest = Digest::sha256(bytes);
        let id = tag.map_or_else(|| digest.to_string(), str::to_owned);
        let url = format!("{}/manifests/{id}", self.base_url(reference));
        let operation = format!("PUT manifest {}:{id}", reference.with_tag("x").repository());
        let body = bytes::Bytes::copy_from_slice(bytes);
        let (url, operation, body) = (&url, &operation, &body);
        let put = || {
            self.retrying(|| async move {
                let response = self
                    .send(reference, Access::Push, operation, &|http| {
                        http.put(url)
                            .header(header::CONTENT_TYPE, media_type)
                            .body(body.clone())
                    })
                    .await?;
                let response = check_status(response, operation).await?;
                Ok(response
                    .headers()
                    .get(OCI_SUBJECT_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<Digest>().ok()))
            })
        };
        let mut delay = self.options.retry_delay;
        let mut made = 1;
        let oci_subject = loop {
            match put().await {
                // The digest in the URL is the one of the exact bytes sent, so DIGEST_INVALID
                // cannot be about them: it is the registry failing to read its own records.
                // distribution 2.8 does so while a concurrent upload of a blob the manifest
                // names rewrites that blob's link in place (it then also answers
                // MANIFEST_BLOB_UNKNOWN for a blob it has); once the upload is done, the same
                // PUT succeeds.
                Err(RegistryError::Status {
                    status: 400,
                    message,
                    ..
                }) if RACY_MANIFEST_ERRORS
                    .iter()
                    .any(|code| message.starts_with(code))
                    && made < MANIFEST_DIGEST_INVALID_ATTEMPTS =>
                {
                    tracing::debug!(%message, attempt = made, "retrying a manifest PUT");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    made += 1;
                }
                other => break other?,
            }
        };
        Ok(PushedManifest {
            digest,
            oci_subject,
        })
    }

    /// Whether the registry of `reference` has a referrers API, as far as this client (and
    /// its clones) has learnt; `None` while nobody has asked, or while an answer is awaited.
    pub(crate) fn referrers_api_known(&self, reference: &Reference) -> Option<bool> {
        let apis = self
            .shared
            .referrers_api
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let api = apis.get(reference.api_host())?;
        api.try_lock().ok().and_then(|known| *known)
    }

    /// Lists the referrers of `subject` through the referrers API (distribution-spec v1.1
    /// "Listing Referrers"), asking the registry to filter by `artifact_type` when given (it
    /// may not; callers filter again). `None` when the registry answers the first request
    /// with 404: it has no referrers API, and the referrers tag schema is to be read instead.
    ///
    /// Every page is bounded by [`Limits::max_manifest_bytes`] and must be an image index;
    /// `Link: <...>; rel="next"` pages are followed on the same host only, at most
    /// [`MAX_REFERRERS_PAGES`] of them, and the entries of all pages together (duplicates
    /// dropped) are bounded by [`Limits::max_referrers`].
    pub(crate) async fn get_referrers(
        &self,
        reference: &Reference,
        subject: &Digest,
        artifact_type: Option<&str>,
    ) -> Result<Option<ImageIndex>, RegistryError> {
        let what = format!("referrers of {subject} in {}", reference.repository());
        let host = reference.api_host();
        let api = self
            .shared
            .referrers_api
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(host.to_owned())
            .or_default()
            .clone();
        // Held while this request finds out whether the registry has the API (dropped,
        // leaving it unknown, if the request fails). A request that finds another one finding
        // out waits for that answer, once: should it fail, it asks on its own rather than
        // take its turn, so that a registry that never answers delays no one twice.
        let mut finding_out = None;
        let known = match api.clone().try_lock_owned() {
            Ok(known) => {
                let state = *known;
                if state.is_none() {
                    finding_out = Some(known);
                }
                state
            }
            Err(_) => *api.lock().await,
        };
        if known == Some(false) {
            tracing::debug!(
                "{host} has no referrers API (it answered 404 before): tag schema only"
            );
            return Ok(None);
        }
        let first = format!("{}/referrers/{subject}", self.base_url(reference));
        let mut url = reqwest::Url::parse(&first).map_err(|e| RegistryError::InvalidReference {
            input: reference.to_string(),
            reason: format!("cannot form the referrers URL: {e}"),
        })?;
        if let Some(artifact_type) = artifact_type {
            url.query_pairs_mut()
                .append_pair("artifactType", artifact_type);
        }
        let limits = self.options.limits;
        let mut merged: Option<ImageIndex> = None;
        let mut next = Some(url.clone());
        let mut pages = 0;
        while let Some(page_url) = next.take() {
            if pages == MAX_REFERRERS_PAGES {
                return Err(RegistryError::TooManyReferrers {
                    what,
                    limit: MAX_REFERRERS_PAGES,
                    counted: "pages",
                });
            }
            pages += 1;
            let operation = format!("GET {what} (page {pages})");
            let first_page = merged.is_none();
            let (request_url, request_operation, request_what) = (&page_url, &operation, &what);
            let page = self
                .retrying(|| async move {
                    let response = self
                        .send(reference, Access::Pull, request_operation, &|http| {
                            http.get(request_url.clone())
                                .header(header::ACCEPT, media_types::OCI_INDEX)
                        })
                        .await?;
                    if response.status() == StatusCode::NOT_FOUND && first_page {
                        return Ok(None);
                    }
                    let response = check_status(response, request_operation).await?;
                    let link = next_link(response.headers());
                    let bytes =
                        read_limited(response, limits.max_manifest_bytes, request_what).await?;
                    Ok(Some((bytes, link)))
                })
                .await?;
            let Some((bytes, link)) = page else {
                match finding_out.take() {
                    Some(mut known) => *known = Some(false),
                    None => *api.lock().await = Some(false),
                }
                return Ok(None);
            };
            let page = referrers_page(&what, bytes)?;
            if let Some(mut known) = finding_out.take() {
                *known = Some(true);
            }
            let index = match &mut merged {
                Some(index) => {
                    index.manifests.extend(page.manifests);
                    index
                }
                None => merged.insert(page),
            };
            let mut seen = std::collections::HashSet::new();
            index.manifests.retain(|d| seen.insert(d.digest.clone()));
            if index.manifests.len() > limits.max_referrers {
                return Err(RegistryError::TooManyReferrers {
                    what,
                    limit: limits.max_referrers,
                    counted: "referrers",
                });
            }
            if let Some(link) = link {
                let target = page_url.join(&link).map_err(|_| RegistryError::Status {
                    operation: operation.clone(),
                    status: 200,
                    message: format!("Link \"{link}\" is not a URL"),
                })?;
                if target.origin() != url.origin() {
                    return Err(RegistryError::Status {
                        operation,
                        status: 200,
                        message: format!(
                            "Link points to another host ({}); not followed",
                            target.origin().ascii_serialization()
                        ),
                    });
                }
                next = Some(target);
            }
        }
        Ok(merged)
    }
}

/// The response header by which a registry confirms it processed a pushed manifest's
/// `subject` (distribution-spec v1.1).
const OCI_SUBJECT_HEADER: &str = "oci-subject";

/// How many times a manifest PUT answered with one of [`RACY_MANIFEST_ERRORS`] is made (see
/// `put_manifest`).
const MANIFEST_DIGEST_INVALID_ATTEMPTS: u32 = 4;

/// The `400` codes distribution 2.8 answers a manifest PUT with while another writer is
/// storing a blob or manifest it names (the link being rewritten in place reads as missing
/// or invalid), and then not once that write is done: `DIGEST_INVALID`,
/// `MANIFEST_BLOB_UNKNOWN` and, for an index whose child is being written, `MANIFEST_INVALID`.
/// A manifest that is really wrong is refused again on the last attempt.
const RACY_MANIFEST_ERRORS: [&str; 3] = [
    "DIGEST_INVALID",
    "MANIFEST_BLOB_UNKNOWN",
    "MANIFEST_INVALID",
];

/// How many pages of a referrers API answer are followed before giving up.
pub(crate) const MAX_REFERRERS_PAGES: usize = 32;

/// One page of a referrers API answer: an image index (schema version 2).
fn referrers_page(what: &str, bytes: Vec<u8>) -> Result<ImageIndex, RegistryError> {
    let page = FetchedManifest {
        digest: Digest::sha256(&bytes),
        // Judged by shape, so that an image manifest is not taken for an empty index.
        media_type: String::new(),
        bytes,
    };
    match page.parse() {
        Ok(Manifest::Index(index)) => Ok(*index),
        Ok(Manifest::Image(_)) => Err(RegistryError::BadManifest {
            what: what.to_owned(),
            reason: "the referrers API answered with something other than an image index".into(),
        }),
        Err(RegistryError::BadManifest { reason, .. }) => Err(RegistryError::BadManifest {
            what: what.to_owned(),
            reason,
        }),
        Err(e) => Err(e),
    }
}

/// The target of the `rel="next"` link among a response's `Link` headers (RFC 8288), as
/// written (possibly relative).
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(next_in_link_header)
}

fn next_in_link_header(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after = &rest[start + 1..];
        let end = after.find('>')?;
        let target = &after[..end];
        let tail = &after[end + 1..];
        let params = &tail[..tail.find('<').unwrap_or(tail.len())];
        let is_next = params.split([';', ',']).any(|param| {
            param.split_once('=').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("rel")
                    && value
                        .trim()
                        .trim_matches('"')
                        .split_ascii_whitespace()
                        .any(|rel| rel.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.trim().to_owned());
        }
        rest = tail;
    }
    None
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

/// How a blob is named in messages: `blob <digest> in <repository>`.
fn blob_what(reference: &Reference, descriptor: &Descriptor) -> String {
    format!("blob {} in {}", descriptor.digest, reference.repository())
}

/// Reads a body of at most `limit` bytes: refused up front when `Content-Length` says more,
/// and as soon as more arrives otherwise.
pub(crate) async fn read_limited(
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

    /// HTTPS spoken to a plain-HTTP server (what a plain registry answers a TLS handshake with):
    /// named as such, suggesting the flag, and not retried.
    #[tokio::test]
    async fn https_to_a_plain_http_server_is_named_and_not_retried() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { return };
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut hello = [0u8; 512];
                let _ = stream.read(&mut hello);
                let _ = stream.write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n400 Bad Request",
                );
            }
        });
        let options = ClientOptions {
            attempts: 3,
            retry_delay: Duration::from_millis(1),
            ..ClientOptions::default()
        };
        let http = http_client(&options).unwrap();
        let url = format!("https://127.0.0.1:{port}/v2/");
        let error = retrying(&options, || async {
            http.get(&url)
                .send()
                .await
                .map_err(|e| transport_error("GET /v2/", &e))
        })
        .await
        .unwrap_err();
        assert!(
            matches!(
                error,
                RegistryError::Transport {
                    failure: TransportFailure::NotTls,
                    ..
                }
            ),
            "{error}"
        );
        assert!(!error.is_transient());
        assert!(
            error.to_string().contains("--allow-http-registry"),
            "{error}"
        );
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[test]
    fn form_encoding_escapes_reserved_bytes() {
        assert_eq!(form_encode("a b&c=d/é"), "a+b%26c%3Dd%2F%C3%A9");
    }

    /// Requests for the referrers of many images of a registry without the API, starting
    /// together: one asks, the others wait for its 404 and ask no more.
    #[tokio::test]
    async fn a_registry_without_the_referrers_api_is_asked_once_by_requests_starting_together() {
        use std::io::{BufRead as _, BufReader, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = asked.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let counter = counter.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    let mut stream = stream;
                    loop {
                        let mut head = String::new();
                        loop {
                            let mut line = String::new();
                            match reader.read_line(&mut line) {
                                Ok(0) | Err(_) => return,
                                Ok(_) if line == "\r\n" => break,
                                Ok(_) => head.push_str(&line),
                            }
                        }
                        if head.contains("/referrers/") {
                            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            // Slow enough that every request has started before the answer.
                            std::thread::sleep(Duration::from_millis(100));
                        }
                        let answer = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
                        if stream.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let client = RegistryClient::new(ClientOptions::default()).unwrap();
        let lookups = (0..8).map(|i| {
            let client = client.clone();
            async move {
                let reference = Reference::parse(&format!("127.0.0.1:{port}/r{i}")).unwrap();
                let subject = Digest::sha256(format!("image {i}").as_bytes());
                client.get_referrers(&reference, &subject, None).await
            }
        });
        for listed in futures_util::future::join_all(lookups).await {
            assert!(listed.unwrap().is_none());
        }
        assert_eq!(asked.load(std::sync::atomic::Ordering::SeqCst), 1);
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
    fn next_link_is_found_among_other_relations() {
        let cases = [
            (
                r#"</v2/r/referrers/x?n=2&last=a>; rel="next""#,
                Some("/v2/r/referrers/x?n=2&last=a"),
            ),
            (
                r#"<https://h/a>; rel="prev", <https://h/b>; rel="next""#,
                Some("https://h/b"),
            ),
            (r#"<https://h/a>; title="x"; rel=next"#, Some("https://h/a")),
            (r#"<https://h/a>; rel="prev""#, None),
            ("garbage", None),
        ];
        for (value, expected) in cases {
            assert_eq!(next_in_link_header(value).as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn a_referrers_page_must_be_an_index() {
        let index = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(
            referrers_page("r", index.to_vec())
                .unwrap()
                .manifests
                .is_empty()
        );
        for bad in [
            &br#"{"schemaVersion":1,"manifests":[]}"#[..],
            b"<html>",
            b"{}",
        ] {
            assert!(matches!(
                referrers_page("r", bad.to_vec()),
                Err(RegistryError::BadManifest { .. })
            ));
        }
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

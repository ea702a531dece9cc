//! The registry front's request handling: route, upstream, grant or decision, answer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::sync::OnceCell;
use vouch_keys::Digest;
use vouch_policy::cache::{CacheKey, DecisionCache};
use vouch_policy::evidence::StoreSource;
use vouch_policy::{Decision, ImageName, TrustPolicy, Verdict};
use vouch_registry::manifest::{Descriptor, FetchedManifest, Manifest};
use vouch_registry::{
    ImageReference, ManifestRef, RegistryClient, RegistryError, Store, TransportFailure,
};

use crate::grants::{Grant, Granted, Grants, Key};
use crate::metrics::Metrics;
use crate::route::{self, ManifestReference, Route};
use crate::{ServeConfig, Upstream};

/// A response body: a whole buffer, or a blob streamed from upstream.
pub(crate) type Body = UnsyncBoxBody<Bytes, std::io::Error>;

/// How many manifests (and as many blobs) the grant tables hold.
const GRANT_CAPACITY: usize = 100_000;

/// The OCI error media type is plain JSON.
const JSON: &str = "application/json";

/// The server's shared state.
pub(crate) struct State {
    policy: TrustPolicy,
    upstreams: Vec<Upstream>,
    client: RegistryClient,
    cache: Arc<dyn DecisionCache>,
    grants: Grants,
    pub(crate) metrics: Arc<Metrics>,
    inflight: Mutex<HashMap<CacheKey, Arc<OnceCell<Decision>>>>,
    audit: Option<crate::AuditSink>,
    webhook: Option<std::time::Duration>,
    shared: Option<crate::shared::Redis>,
    grant_ttl: std::time::Duration,
}

impl State {
    pub(crate) fn new(config: ServeConfig, shared: Option<crate::shared::Redis>) -> Self {
        Self {
            shared,
            grant_ttl: config.grant_ttl,
            policy: config.policy,
            upstreams: config.upstreams,
            client: config.client,
            cache: config.cache,
            grants: Grants::new(config.grant_ttl, GRANT_CAPACITY),
            metrics: Arc::default(),
            inflight: Mutex::new(HashMap::new()),
            audit: config.audit,
            webhook: config.webhook_budget,
        }
    }

    /// The registry client for upstream and image requests.
    pub(crate) fn client(&self) -> &RegistryClient {
        &self.client
    }

    /// Counts and writes the audit line of a decision made for an admission review.
    pub(crate) fn record_admission(
        &self,
        result: &str,
        mode: &str,
        image: &str,
        workload: &str,
        decision: Option<&Decision>,
    ) {
        self.metrics.decision(result, mode);
        let mut line = decision.map_or_else(
            || serde_json::json!({"event": "decision", "result": result}),
            |d| audit_line(d, result, None),
        );
        line["source"] = "admission".into();
        line["workload"] = workload.into();
        line["requested"] = image.into();
        self.write_audit(&line);
    }

    /// Grants `key` here and, with a shared cache, to the other replicas: a client's next
    /// request (a blob, a platform manifest) may reach another one.
    async fn grant(&self, key: &Key, manifest: &Manifest, grant: Grant) {
        let granted = self.grants.grant(key, manifest, grant);
        if let Some(shared) = &self.shared {
            let entries: Vec<(String, String)> = granted
                .iter()
                .filter_map(|g| Some((g.shared_name(), serde_json::to_string(g).ok()?)))
                .collect();
            shared.publish(&entries, self.grant_ttl).await;
        }
    }

    /// A grant another replica made for `key`, recorded here when there is one.
    async fn shared_grant(&self, kind: &str, key: &Key) -> Option<Granted> {
        let shared = self.shared.as_ref()?;
        let text = shared.fetch(&Granted::name(kind, key)).await?;
        let granted: Granted = serde_json::from_str(&text).ok()?;
        let same_key = match &granted {
            Granted::Manifest(k, _) | Granted::Blob(k, _) => k == key,
        };
        if !same_key {
            return None;
        }
        self.grants.insert(std::slice::from_ref(&granted));
        Some(granted)
    }

    /// Evaluates a decision here, and keeps it in the in-process cache unless its evidence
    /// could not be gathered.
    async fn evaluate(&self, name: &ImageName, pinned: &str, key: &CacheKey) -> Decision {
        self.metrics.evaluation();
        let now = vouch_keys::time::UnixTime::from_system_time(std::time::SystemTime::now());
        let decision = match ImageReference::parse(pinned)
            .map_err(|e| e.to_string())
            .and_then(|image| StoreSource::open(&self.client, &image).map_err(|e| e.to_string()))
        {
            Ok(source) => self.policy.decide(name, &source, now).await,
            Err(reason) => {
                let failing = vouch_policy::evidence::MemorySource {
                    name: name.display.clone(),
                    failure: Some(vouch_policy::EvidenceError {
                        image: name.display.clone(),
                        reason,
                        input: true,
                    }),
                    ..Default::default()
                };
                self.policy.decide(name, &failing, now).await
            }
        };
        if decision.verdict != Verdict::Error {
            self.cache.put(key.clone(), decision.clone());
        }
        decision
    }

    fn write_audit(&self, line: &serde_json::Value) {
        let line = line.to_string();
        tracing::debug!("decision: {line}");
        if let Some(sink) = &self.audit {
            sink(&line);
        }
    }

    /// Decides the image `name` at `digest`, whose evidence is read from `pinned`
    /// (`host/repository@digest`): from the cache, or evaluated once however many requests
    /// ask at the same time.
    pub(crate) async fn decide_pinned(
        &self,
        name: &ImageName,
        pinned: &str,
        digest: &Digest,
    ) -> Decision {
        let key = CacheKey::new(
            &format!("{}@{digest}", name.repository),
            digest,
            &self.policy.digest,
        );
        if let Some(decision) = self.cache.get(&key) {
            self.metrics.cache_hit();
            return decision;
        }
        let cell = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            inflight.entry(key.clone()).or_default().clone()
        };
        let decision = cell
            .get_or_init(|| async {
                // Another request may have finished it between the cache look-up and now.
                if let Some(decision) = self.cache.get(&key) {
                    self.metrics.cache_hit();
                    return decision;
                }
                if let Some(shared) = &self.shared {
                    let waited_until = Instant::now() + crate::shared::LOCK_TTL;
                    loop {
                        match shared.lookup(&key).await {
                            crate::shared::Lookup::Found(decision) => {
                                self.metrics.cache_hit();
                                self.cache.put(key.clone(), (*decision).clone());
                                return *decision;
                            }
                            crate::shared::Lookup::Missing { locked: true } => {
                                let decision = self.evaluate(name, pinned, &key).await;
                                if decision.verdict == Verdict::Error {
                                    shared.release(&key).await;
                                } else {
                                    shared.store(&key, &decision).await;
                                }
                                return decision;
                            }
                            // Another replica is evaluating it: wait for its answer.
                            crate::shared::Lookup::Missing { locked: false }
                                if Instant::now() < waited_until =>
                            {
                                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                            }
                            _ => break,
                        }
                    }
                }
                self.evaluate(name, pinned, &key).await
            })
            .await
            .clone();
        let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
        if inflight.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            inflight.remove(&key);
        }
        decision
    }
}

/// An answer with an OCI error body (`{"errors":[{"code","message"}]}`).
fn oci_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = serde_json::json!({"errors": [{"code": code, "message": message}]});
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    // The reason in the status line too: a client that shows only the status (containerd,
    // after a HEAD, which has no body) shows why.
    if status == StatusCode::FORBIDDEN {
        let phrase: String = format!("Forbidden: {message}")
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .take(300)
            .collect();
        if let Ok(phrase) = hyper::ext::ReasonPhrase::try_from(phrase.into_bytes()) {
            response.extensions_mut().insert(phrase);
        }
    }
    response
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never: Infallible| match never {})
        .boxed_unsync()
}

fn empty() -> Body {
    full(Bytes::new())
}

/// The text of a header value; untrusted text that cannot be one is dropped.
fn header_text(text: &str) -> Option<HeaderValue> {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    HeaderValue::from_str(&cleaned).ok()
}

/// Answers one request; never fails (every failure is an answer).
pub(crate) async fn handle(state: &State, request: Request<Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let route = route::parse(&path);
    let label = match &route {
        Ok(Route::Manifest { .. }) => "manifest",
        Ok(Route::Blob { .. }) => "blob",
        Ok(Route::Tags { .. }) => "tags",
        Ok(Route::Referrers { .. }) => "referrers",
        Ok(Route::Base) => "base",
        Ok(Route::Health | Route::Ready | Route::Metrics) => "operations",
        Err(_) => "invalid",
    };
    let webhook = match path.as_str() {
        "/validate" => Some(crate::webhook::Endpoint::Validate),
        "/mutate" => Some(crate::webhook::Endpoint::Mutate),
        _ => None,
    };
    if let (Some(endpoint), Some(budget)) = (webhook, state.webhook) {
        let label = match endpoint {
            crate::webhook::Endpoint::Validate => "validate",
            crate::webhook::Endpoint::Mutate => "mutate",
        };
        let response = admission(state, endpoint, budget, method, request).await;
        state.metrics.request(label, response.status().as_u16());
        return response;
    }
    let mut response = if method != Method::GET && method != Method::HEAD {
        let mut refused = oci_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "UNSUPPORTED",
            "vouch serve is a read-only registry: only GET and HEAD are answered",
        );
        refused
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        refused
    } else {
        match route {
            Err(bad) => {
                let status = if bad.code == "NOT_FOUND" {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_REQUEST
                };
                oci_error(status, bad.code, &bad.message)
            }
            Ok(route) => answer(state, route, query.as_deref(), &request).await,
        }
    };
    state.metrics.request(label, response.status().as_u16());
    if method == Method::HEAD {
        *response.body_mut() = empty();
    }
    response
}

/// A plain-text (JSON) answer with `status`.
fn json_answer(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// `POST /validate`, `POST /mutate`: the body read up to
/// [`crate::webhook::MAX_REVIEW_BYTES`], answered with an AdmissionReview, or `400` with a
/// JSON `{"error": ...}` that says what is wrong with it.
async fn admission(
    state: &State,
    endpoint: crate::webhook::Endpoint,
    budget: std::time::Duration,
    method: Method,
    request: Request<Incoming>,
) -> Response<Body> {
    let bad = |status: StatusCode, message: String| {
        json_answer(status, &serde_json::json!({"error": message}))
    };
    if method != Method::POST {
        return bad(
            StatusCode::METHOD_NOT_ALLOWED,
            "an admission review is POSTed".into(),
        );
    }
    let limit = crate::webhook::MAX_REVIEW_BYTES;
    let body = match http_body_util::Limited::new(request.into_body(), limit)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return bad(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the AdmissionReview is larger than {limit} bytes"),
            );
        }
        Err(e) => {
            return bad(
                StatusCode::BAD_REQUEST,
                format!("the request body could not be read: {e}"),
            );
        }
    };
    match crate::webhook::review(state, endpoint, &body, budget).await {
        Ok(review) => json_answer(StatusCode::OK, &review),
        Err(crate::webhook::BadReview(reason)) => bad(StatusCode::BAD_REQUEST, reason),
    }
}

async fn answer(
    state: &State,
    route: Route,
    query: Option<&str>,
    request: &Request<Incoming>,
) -> Response<Body> {
    match route {
        Route::Health => Response::new(full("ok\n")),
        Route::Ready => Response::new(full("ready\n")),
        Route::Metrics => {
            let mut response = Response::new(full(state.metrics.render()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            response
        }
        Route::Base => {
            let mut response = Response::new(full("{}"));
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
            headers.insert(
                "docker-distribution-api-version",
                HeaderValue::from_static("registry/2.0"),
            );
            response
        }
        Route::Manifest { name, reference } => match upstream_for(state, &name, query) {
            Ok((upstream, repository)) => manifest(state, upstream, &repository, reference).await,
            Err(refused) => refused,
        },
        Route::Blob { name, digest } => match upstream_for(state, &name, query) {
            Ok((upstream, repository)) => {
                let range = request
                    .headers()
                    .get(header::RANGE)
                    .and_then(|v| v.to_str().ok());
                blob(state, upstream, &repository, &digest, range).await
            }
            Err(refused) => refused,
        },
        Route::Tags { name } => match upstream_for(state, &name, query) {
            Ok((upstream, repository)) => tags(state, upstream, &repository, &name, query).await,
            Err(refused) => refused,
        },
        Route::Referrers { name, digest } => match upstream_for(state, &name, query) {
            Ok((upstream, repository)) => {
                referrers(state, upstream, &repository, &digest, query).await
            }
            Err(refused) => refused,
        },
    }
}

/// The value of query parameter `key`.
fn query_param<'q>(query: Option<&'q str>, key: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The upstream a request names (`?ns=` first, else the first path component) and the
/// repository within it. (The refusal is the answer itself, built once per request: boxing
/// it would gain nothing.)
#[allow(clippy::result_large_err)]
fn upstream_for<'s>(
    state: &'s State,
    name: &str,
    query: Option<&str>,
) -> Result<(&'s Upstream, String), Response<Body>> {
    let unknown = |wanted: &str| {
        let known: Vec<&str> = state.upstreams.iter().map(|u| u.name.as_str()).collect();
        oci_error(
            StatusCode::NOT_FOUND,
            "NAME_UNKNOWN",
            &format!(
                "no upstream is configured as {wanted:?} (configured: {})",
                known.join(", ")
            ),
        )
    };
    if let Some(ns) = query_param(query, "ns") {
        return match state.upstreams.iter().find(|u| u.name == ns) {
            Some(upstream) => Ok((upstream, name.to_owned())),
            None => Err(unknown(ns)),
        };
    }
    let Some((first, rest)) = name.split_once('/') else {
        return Err(unknown(name));
    };
    match state.upstreams.iter().find(|u| u.name == first) {
        Some(upstream) => Ok((upstream, rest.to_owned())),
        None => Err(unknown(first)),
    }
}

/// The store of `repository` on `upstream`, with `suffix` (`:tag`, `@digest` or nothing);
/// the refusal is the answer.
#[allow(clippy::result_large_err)]
fn store(
    state: &State,
    upstream: &Upstream,
    repository: &str,
    suffix: &str,
) -> Result<vouch_registry::Target, Response<Body>> {
    let text = format!("{}/{repository}{suffix}", upstream.registry);
    let reference = ImageReference::parse(&text)
        .map_err(|e| oci_error(StatusCode::BAD_REQUEST, "NAME_INVALID", &e.to_string()))?;
    Store::open(&state.client, &reference)
        .map_err(|e| oci_error(StatusCode::BAD_REQUEST, "NAME_INVALID", &e.to_string()))
}

/// An upstream failure as an answer: `503` when the upstream could not be reached or timed
/// out, `502` when it answered wrongly, `404` when it has no such thing.
fn upstream_error(e: &RegistryError, unknown_code: &str) -> Response<Body> {
    let base = match e {
        RegistryError::Retried { source, .. } => source.as_ref(),
        other => other,
    };
    match base {
        RegistryError::NotFound { what } => oci_error(
            StatusCode::NOT_FOUND,
            unknown_code,
            &format!("{what} does not exist upstream"),
        ),
        RegistryError::Transport {
            failure: TransportFailure::Connect | TransportFailure::Timeout,
            ..
        } => oci_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "UNAVAILABLE",
            &format!("the upstream is unavailable: {e}"),
        ),
        _ => oci_error(
            StatusCode::BAD_GATEWAY,
            "UPSTREAM",
            &format!("the upstream failed: {e}"),
        ),
    }
}

fn manifest_response(fetched: &FetchedManifest, warning: Option<&str>) -> Response<Body> {
    let mut response = Response::new(full(fetched.bytes.clone()));
    let headers = response.headers_mut();
    if let Some(media_type) = header_text(&fetched.media_type) {
        headers.insert(header::CONTENT_TYPE, media_type);
    }
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(fetched.bytes.len()),
    );
    if let Some(digest) = header_text(&fetched.digest.to_string()) {
        headers.insert("docker-content-digest", digest);
    }
    if let Some(warning) =
        warning.and_then(|w| header_text(&format!("299 - \"{}\"", w.replace(['"', '\\'], "'"))))
    {
        headers.insert(header::WARNING, warning);
    }
    response
}

/// Whether a manifest is evidence about another (cosign's tags, the referrers tag schema, a
/// manifest with a `subject`).
fn is_evidence(reference: &ManifestReference, manifest: &Manifest) -> bool {
    if let ManifestReference::Tag(tag) = reference
        && (vouch_registry::cosign::is_cosign_tag(tag)
            || vouch_registry::referrers::is_referrers_tag(tag))
    {
        return true;
    }
    match manifest {
        Manifest::Image(image) => image.subject().is_some(),
        Manifest::Index(index) => index.extra.contains_key("subject"),
    }
}

async fn manifest(
    state: &State,
    upstream: &Upstream,
    repository: &str,
    reference: ManifestReference,
) -> Response<Body> {
    let (suffix, at) = match &reference {
        ManifestReference::Tag(tag) => (format!(":{tag}"), ManifestRef::Tag(tag.clone())),
        ManifestReference::Digest(digest) => {
            (format!("@{digest}"), ManifestRef::Digest(digest.clone()))
        }
    };
    let target = match store(state, upstream, repository, &suffix) {
        Ok(target) => target,
        Err(refused) => return refused,
    };
    let fetched = timed(state, target.store.manifest(&at)).await;
    let fetched = match fetched {
        Ok(Some(fetched)) => fetched,
        Ok(None) => {
            return oci_error(
                StatusCode::NOT_FOUND,
                "MANIFEST_UNKNOWN",
                &format!(
                    "{}/{repository}{suffix} does not exist upstream",
                    upstream.name
                ),
            );
        }
        Err(e) => return upstream_error(&e, "MANIFEST_UNKNOWN"),
    };
    let parsed = match fetched.parse() {
        Ok(parsed) => parsed,
        Err(e) => {
            return oci_error(
                StatusCode::BAD_GATEWAY,
                "UPSTREAM",
                &format!("the upstream manifest cannot be read: {e}"),
            );
        }
    };
    let key: Key = (
        upstream.name.clone(),
        repository.to_owned(),
        fetched.digest.clone(),
    );
    if is_evidence(&reference, &parsed) {
        return serve_granted(state, &key, &parsed, &fetched, Grant::Evidence).await;
    }
    let granted = match state.grants.manifest(&key) {
        Some(grant) => Some(grant),
        None => match state.shared_grant("manifest", &key).await {
            Some(Granted::Manifest(_, grant)) => Some(grant),
            _ => None,
        },
    };
    if let Some(grant) = granted {
        return serve_granted(state, &key, &parsed, &fetched, grant).await;
    }
    let tag = match &reference {
        ManifestReference::Tag(tag) => Some(tag.as_str()),
        ManifestReference::Digest(_) => None,
    };
    let decision = decide(state, upstream, repository, tag, &fetched.digest).await;
    let (result, mode) = outcome(&decision);
    state.metrics.decision(result, &mode);
    let mut line = audit_line(&decision, result, tag);
    line["source"] = "registry".into();
    state.write_audit(&line);
    let reason = decision.reason.clone().unwrap_or_default();
    if decision.allowed {
        let warning = (decision.verdict != Verdict::Pass).then(|| reason.clone());
        return serve_granted(state, &key, &parsed, &fetched, Grant::Allowed { warning }).await;
    }
    if decision.verdict == Verdict::Error {
        return oci_error(
            StatusCode::BAD_GATEWAY,
            "DENIED",
            &format!("not verified: {reason}"),
        );
    }
    oci_error(StatusCode::FORBIDDEN, "DENIED", &reason)
}

/// Serves a manifest under `grant`, granting (again) what it lets be served.
async fn serve_granted(
    state: &State,
    key: &Key,
    parsed: &Manifest,
    fetched: &FetchedManifest,
    grant: Grant,
) -> Response<Body> {
    let warning = match &grant {
        Grant::Allowed { warning } => warning.clone(),
        Grant::Evidence => None,
    };
    state.grant(key, parsed, grant).await;
    manifest_response(fetched, warning.as_deref())
}

/// How a decision is counted and logged: its result (`allowed`, `warned`, `error`, `denied`)
/// and its mode's name.
pub(crate) fn outcome(decision: &Decision) -> (&'static str, String) {
    let result = match (decision.allowed, decision.verdict) {
        (true, Verdict::Pass) => "allowed",
        (true, _) => "warned",
        (false, Verdict::Error) => "error",
        (false, _) => "denied",
    };
    let mode = serde_json::to_value(decision.mode)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    (result, mode)
}

/// Awaits one upstream request, adding the time it took to the metrics.
async fn timed<T>(state: &State, request: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let answer = request.await;
    state.metrics.upstream(started.elapsed().as_secs_f64());
    answer
}

/// The audit line of a decision: one JSON object.
fn audit_line(decision: &Decision, result: &str, tag: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "event": "decision",
        "result": result,
        "image": decision.image,
        "tag": tag,
        "digest": decision.digest,
        "allowed": decision.allowed,
        "verdict": decision.verdict,
        "mode": decision.mode,
        "scope": decision.scope,
        "denial": decision.denial,
        "reason": decision.reason,
        "policy": decision.policy,
        "policyDigest": decision.policy_digest,
        "decidedAt": decision.decided_at,
    })
}

/// The decision for `digest` of `upstream`/`repository`, named as the client named it.
async fn decide(
    state: &State,
    upstream: &Upstream,
    repository: &str,
    tag: Option<&str>,
    digest: &Digest,
) -> Decision {
    let name = ImageName {
        repository: format!("{}/{repository}", upstream.name),
        tag: tag.map(str::to_owned),
        digest: Some(digest.clone()),
        display: format!("{}/{repository}@{digest}", upstream.name),
    };
    let pinned = format!("{}/{repository}@{digest}", upstream.registry);
    state.decide_pinned(&name, &pinned, digest).await
}

/// `bytes=START-END`, `bytes=START-` or `bytes=-SUFFIX` within a blob of `size` bytes, as an
/// inclusive range; `Err` for a range that cannot be satisfied or read.
fn byte_range(text: &str, size: u64) -> Result<(u64, u64), ()> {
    let spec = text.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') || size == 0 {
        return Err(());
    }
    let (start, end) = spec.split_once('-').ok_or(())?;
    let (start, end) = match (start.trim(), end.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| ())?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (start, "") => (start.parse().map_err(|_| ())?, size - 1),
        (start, end) => {
            let end: u64 = end.parse().map_err(|_| ())?;
            (start.parse().map_err(|_| ())?, end.min(size - 1))
        }
    };
    if start > end || start >= size {
        return Err(());
    }
    Ok((start, end))
}

async fn blob(
    state: &State,
    upstream: &Upstream,
    repository: &str,
    digest: &Digest,
    range: Option<&str>,
) -> Response<Body> {
    let key: Key = (upstream.name.clone(), repository.to_owned(), digest.clone());
    let descriptor = match state.grants.blob(&key) {
        Some(descriptor) => Some(descriptor),
        None => match state.shared_grant("blob", &key).await {
            Some(Granted::Blob(_, descriptor)) => Some(descriptor),
            _ => None,
        },
    };
    let Some(descriptor) = descriptor else {
        return oci_error(
            StatusCode::FORBIDDEN,
            "DENIED",
            &format!(
                "blob {digest} of {}/{repository} is not listed by a manifest this proxy has allowed; fetch the image's manifest first",
                upstream.name
            ),
        );
    };
    let (status, (start, end)) = match range {
        None => (StatusCode::OK, (0, descriptor.size.saturating_sub(1))),
        Some(text) => match byte_range(text, descriptor.size) {
            Ok(range) => (StatusCode::PARTIAL_CONTENT, range),
            Err(()) => {
                let mut refused = oci_error(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    "BLOB_UNKNOWN",
                    &format!(
                        "range {text:?} cannot be served from a blob of {} bytes",
                        descriptor.size
                    ),
                );
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", descriptor.size)) {
                    refused.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return refused;
            }
        },
    };
    let target = match store(state, upstream, repository, "") {
        Ok(target) => target,
        Err(refused) => return refused,
    };
    let opened = timed(state, target.store.stream_blob(&descriptor)).await;
    let stream = match opened {
        Ok(stream) => stream,
        Err(e) => return upstream_error(&e, "BLOB_UNKNOWN"),
    };
    let length = if descriptor.size == 0 {
        0
    } else {
        end - start + 1
    };
    let body = verified_body(stream, start, length, state.metrics.clone());
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(value) = header_text(&digest.to_string()) {
        headers.insert("docker-content-digest", value);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(value) =
            HeaderValue::from_str(&format!("bytes {start}-{end}/{}", descriptor.size))
    {
        headers.insert(header::CONTENT_RANGE, value);
    }
    response
}

/// The body of a blob: the bytes `start..start+length` of `stream`, each chunk sent only once
/// the next has arrived, and the last only once the upstream stream ended with its size and
/// digest confirmed. A mismatch ends the body with an error, which cuts the connection: the
/// client never holds the whole of a blob that does not match its digest.
fn verified_body(
    stream: vouch_registry::BlobStream,
    start: u64,
    length: u64,
    metrics: Arc<Metrics>,
) -> Body {
    struct Pump {
        metrics: Arc<Metrics>,
        stream: vouch_registry::BlobStream,
        held: Option<Bytes>,
        position: u64,
        start: u64,
        end: u64,
        done: bool,
    }
    let pump = Pump {
        metrics,
        stream,
        held: None,
        position: 0,
        start,
        end: start + length,
        done: false,
    };
    let frames = futures_util::stream::unfold(pump, |mut pump| async move {
        if pump.done {
            return None;
        }
        loop {
            match pump.stream.next_chunk().await {
                Ok(Some(chunk)) => {
                    let chunk_start = pump.position;
                    pump.position += chunk.len() as u64;
                    let from = pump.start.max(chunk_start);
                    let to = pump.end.min(pump.position);
                    if from >= to {
                        continue;
                    }
                    let slice =
                        chunk.slice((from - chunk_start) as usize..(to - chunk_start) as usize);
                    if let Some(previous) = pump.held.replace(slice) {
                        pump.metrics.served(previous.len() as u64);
                        return Some((Ok(Frame::data(previous)), pump));
                    }
                }
                Ok(None) => {
                    pump.done = true;
                    let last = pump.held.take()?;
                    pump.metrics.served(last.len() as u64);
                    return Some((Ok(Frame::data(last)), pump));
                }
                Err(e) => {
                    pump.done = true;
                    tracing::warn!(error = %e, "a blob from upstream was cut off");
                    return Some((Err(std::io::Error::other(e.to_string())), pump));
                }
            }
        }
    });
    StreamBody::new(frames).boxed_unsync()
}

async fn tags(
    state: &State,
    upstream: &Upstream,
    repository: &str,
    name: &str,
    query: Option<&str>,
) -> Response<Body> {
    let n = match query_param(query, "n").map(str::parse::<usize>) {
        None => None,
        Some(Ok(n)) => Some(n),
        Some(Err(_)) => {
            return oci_error(
                StatusCode::BAD_REQUEST,
                "PAGINATION_NUMBER_INVALID",
                "n is a number",
            );
        }
    };
    let last = query_param(query, "last");
    let target = match store(state, upstream, repository, "") {
        Ok(target) => target,
        Err(refused) => return refused,
    };
    let page = timed(state, target.store.tags(n, last)).await;
    let page = match page {
        Ok(page) => page,
        Err(e) => return upstream_error(&e, "NAME_UNKNOWN"),
    };
    let body = serde_json::json!({"name": name, "tags": page.tags});
    let mut response = Response::new(full(body.to_string()));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    if page.more
        && let (Some(n), Some(last)) = (n, page.tags.last())
        && let Ok(link) = HeaderValue::from_str(&format!(
            "</v2/{name}/tags/list?n={n}&last={last}>; rel=\"next\""
        ))
    {
        headers.insert(header::LINK, link);
    }
    response
}

async fn referrers(
    state: &State,
    upstream: &Upstream,
    repository: &str,
    digest: &Digest,
    query: Option<&str>,
) -> Response<Body> {
    let artifact_type = query_param(query, "artifactType");
    let target = match store(state, upstream, repository, "") {
        Ok(target) => target,
        Err(refused) => return refused,
    };
    let listed = timed(
        state,
        vouch_registry::referrers::list_referrers(&target.store, digest, artifact_type),
    )
    .await;
    let listed = match listed {
        Ok(listed) => listed,
        Err(e) => return upstream_error(&e, "MANIFEST_UNKNOWN"),
    };
    let digests: Vec<Digest> = listed.iter().map(|r| r.descriptor.digest.clone()).collect();
    state.grants.evidence(&upstream.name, repository, &digests);
    let manifests: Vec<&Descriptor> = listed.iter().map(|r| &r.descriptor).collect();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let mut response = Response::new(full(index.to_string()));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.oci.image.index.v1+json"),
    );
    if artifact_type.is_some() {
        headers.insert(
            "oci-filters-applied",
            HeaderValue::from_static("artifactType"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_are_read_as_rfc_9110_has_them() {
        assert_eq!(byte_range("bytes=0-9", 100), Ok((0, 9)));
        assert_eq!(byte_range("bytes=90-", 100), Ok((90, 99)));
        assert_eq!(byte_range("bytes=-10", 100), Ok((90, 99)));
        assert_eq!(byte_range("bytes=95-200", 100), Ok((95, 99)));
        for bad in [
            "bytes=100-",
            "bytes=5-1",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=-0",
            "bytes=x-",
        ] {
            assert_eq!(byte_range(bad, 100), Err(()), "{bad}");
        }
    }

    #[test]
    fn query_parameters_are_found_by_name() {
        assert_eq!(
            query_param(Some("ns=docker.io&x=1"), "ns"),
            Some("docker.io")
        );
        assert_eq!(query_param(Some("n=5&last=v1"), "last"), Some("v1"));
        assert_eq!(query_param(None, "ns"), None);
    }
}

//! Clients of the Sigstore services a signer talks to, with the registry client's HTTP setup
//! (rustls, timeouts, bounded answers, retries of transient failures, plain HTTP only for
//! loopback services): [`rekor`] transparency logs, [`fulcio`] certificate authorities,
//! [`tsa`] RFC 3161 timestamp authorities, and [`oidc`], the CI systems that hand out
//! identity tokens. Nothing here verifies what a service answers; that is `vouch_verifier`'s
//! job, done by the caller before anything is kept. The exception is [`tuf`], which keeps
//! Sigstore trust roots current from a TUF repository: TUF's checks (signatures, versions,
//! expiry, hashes) are what make its answer trustworthy, and `tough` makes them here.

pub mod fulcio;
pub mod oidc;
pub mod rekor;
pub mod tsa;
pub mod tuf;

use reqwest::{Response, StatusCode, Url, header};
use serde::Deserialize;

use crate::RegistryError;
use crate::client::{
    ClientOptions, exchange, http_client, read_limited, retrying, transport_error,
};

/// One Sigstore service: its base URL, checked ([`service_url`]), and an HTTP client with the
/// caller's options. Clones share connections.
#[derive(Clone)]
pub(crate) struct Endpoint {
    /// How errors name the service.
    pub(crate) service: &'static str,
    /// The client.
    pub(crate) http: reqwest::Client,
    /// The base URL, without a trailing slash.
    pub(crate) base: String,
    /// Timeouts and retries.
    pub(crate) options: ClientOptions,
}

impl Endpoint {
    /// The `service` at `url`, refused as [`service_url`] refuses URLs.
    pub(crate) fn new(
        service: &'static str,
        url: &str,
        options: ClientOptions,
        query_allowed: bool,
    ) -> Result<Self, RegistryError> {
        let parsed = service_url(service, url, &options, query_allowed)?;
        Ok(Self {
            service,
            http: http_client(&options)?,
            base: base(&parsed),
            options,
        })
    }

    /// POSTs `body` (of `content_type`, answer asked as `accept`) to `url` and returns the
    /// body of a `200` or `201` answer, at most `limit` bytes. Transport failures, 5xx and 429
    /// answers are retried; another status is [`RegistryError::ServiceStatus`] with the
    /// service's message. Neither the body nor the answer is logged.
    pub(crate) async fn post(
        &self,
        url: &str,
        content_type: &str,
        accept: &str,
        body: &[u8],
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let operation = format!("POST {url}");
        let operation = &operation;
        retrying(&self.options, || async move {
            let response = exchange(
                self.http
                    .post(url)
                    .header(header::CONTENT_TYPE, content_type)
                    .header(header::ACCEPT, accept)
                    .body(body.to_vec()),
            )
            .await
            .map_err(|e| transport_error(operation, &e))?;
            match response.status() {
                StatusCode::OK | StatusCode::CREATED => {
                    read_limited(response, limit, operation).await
                }
                _ => Err(status_error(self.service, response, operation).await),
            }
        })
        .await
    }

    /// An error for an answer of this service that is not what its API defines.
    pub(crate) fn malformed(&self, url: &str, reason: String) -> RegistryError {
        RegistryError::ServiceAnswer {
            service: self.service,
            operation: format!("POST {url}"),
            reason,
        }
    }
}

/// The base URL of a `service` at `url`, without a trailing slash. Refuses, as
/// [`RegistryError::ServiceUrl`], a URL that does not parse, is not `http` or `https`, has
/// no host, or has a fragment (and a query unless `query_allowed`); and plain `http` for a
/// host other than loopback (`localhost`, `127.0.0.0/8`, `::1`) unless
/// [`ClientOptions::allow_http`]: tokens and signatures cross this connection.
pub(crate) fn service_url(
    service: &'static str,
    url: &str,
    options: &ClientOptions,
    query_allowed: bool,
) -> Result<Url, RegistryError> {
    let invalid = |reason: &str| RegistryError::ServiceUrl {
        service,
        input: url.to_owned(),
        reason: reason.to_owned(),
    };
    let parsed = Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    let host = parsed.host_str().ok_or_else(|| invalid("no host"))?;
    match parsed.scheme() {
        "https" => {}
        "http" if is_loopback(host) || options.allow_http => {}
        "http" => {
            return Err(invalid(
                "plain HTTP is allowed only on the loopback interface; use https",
            ));
        }
        _ => return Err(invalid("the scheme must be https (or http for loopback)")),
    }
    if parsed.fragment().is_some() || (parsed.query().is_some() && !query_allowed) {
        return Err(invalid("this URL takes no query or fragment"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("credentials do not go in the URL"));
    }
    Ok(parsed)
}

/// `url` without its trailing slash, to put API paths after.
pub(crate) fn base(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_owned()
}

/// Whether `host` (as a URL gives it) is the loopback interface.
fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost")
        || bare.to_ascii_lowercase().ends_with(".localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The error body Sigstore's services share (`{"code": N, "message": "..."}`).
#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// Turns a non-success answer of `service` into an error carrying the service's own message:
/// at most 512 characters, with anything that looks like a JSON Web Token cut out (a service
/// that echoes the identity token back must not put it in a log).
pub(crate) async fn status_error(
    service: &'static str,
    response: Response,
    operation: &str,
) -> RegistryError {
    let status = response.status();
    let body = read_limited(response, 64 * 1024, operation)
        .await
        .unwrap_or_default();
    let message = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .map(|b| b.message)
        .or_else(|| {
            std::str::from_utf8(&body)
                .ok()
                .map(|text| text.trim().to_owned())
        })
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| status.canonical_reason().unwrap_or_default().to_owned());
    RegistryError::ServiceStatus {
        service,
        operation: operation.to_owned(),
        status: status.as_u16(),
        message: redact_tokens(&message).chars().take(512).collect(),
    }
}

/// `text` with every word shaped like a JSON Web Token (three base64url parts, the first
/// starting `eyJ`) replaced by `[token]`.
pub(crate) fn redact_tokens(text: &str) -> String {
    let is_token = |word: &str| {
        let parts: Vec<&str> = word.split('.').collect();
        parts.len() == 3
            && parts[0].starts_with("eyJ")
            && parts.iter().all(|p| {
                p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
    };
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if is_token(word) {
            out.push_str("[token]");
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_urls_follow_the_registry_rules() {
        let ok = |url: &str| {
            service_url("Fulcio", url, &ClientOptions::default(), false).map(|u| base(&u))
        };
        assert_eq!(
            ok("https://fulcio.sigstore.dev/").unwrap(),
            "https://fulcio.sigstore.dev"
        );
        assert_eq!(
            ok("http://127.0.0.1:3000").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(ok("http://[::1]:3000/").unwrap(), "http://[::1]:3000");
        assert_eq!(ok("http://localhost/ca/").unwrap(), "http://localhost/ca");
        for bad in [
            "http://fulcio.example.com",
            "http://10.0.0.1:3000",
            "ftp://fulcio.example.com",
            "fulcio.sigstore.dev",
            "https://fulcio.example.com/?x=1",
            "https://user:pw@fulcio.example.com/",
            "",
        ] {
            let error = ok(bad).unwrap_err();
            assert!(
                matches!(
                    error,
                    RegistryError::ServiceUrl {
                        service: "Fulcio",
                        ..
                    }
                ) && error.is_input_error(),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn tokens_are_cut_out_of_messages() {
        assert_eq!(
            redact_tokens("bad token eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.c2ln: expired"),
            "bad token [token]: expired"
        );
        assert_eq!(redact_tokens("a.b.c is fine"), "a.b.c is fine");
    }
}

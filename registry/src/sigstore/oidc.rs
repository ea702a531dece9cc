//! Identity tokens from the CI system a signing job runs in. GitHub Actions hands a job an
//! OIDC token on request (`ACTIONS_ID_TOKEN_REQUEST_URL`, with the bearer
//! `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, for the audience asked for in the `audience` query
//! parameter; the answer is `{"value": TOKEN}`); GitLab and others put one in the environment,
//! which needs no client. Neither the request token nor the identity token is ever logged or
//! put in an error.
//!
//! ```no_run
//! use vouch_registry::ClientOptions;
//! use vouch_registry::sigstore::oidc::github_actions_token;
//!
//! # async fn run() -> Result<(), vouch_registry::RegistryError> {
//! let url = std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL").unwrap();
//! let bearer = std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN").unwrap();
//! let token = github_actions_token(&url, &bearer, "sigstore", ClientOptions::default()).await?;
//! # Ok(()) }
//! ```

use reqwest::StatusCode;
use reqwest::header;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::{service_url, status_error};
use crate::RegistryError;
use crate::client::{
    ClientOptions, exchange, http_client, read_limited, retrying, transport_error,
};

/// How errors name the service.
const SERVICE: &str = "GitHub Actions token service";

/// The largest answer read: a token is a few kilobytes.
pub const MAX_ANSWER_BYTES: u64 = 64 * 1024;

#[derive(Deserialize)]
struct Answer {
    value: String,
}

/// Asks GitHub Actions' token service at `request_url` (the job's
/// `ACTIONS_ID_TOKEN_REQUEST_URL`, which carries a query already) for an identity token for
/// `audience`, authenticated by `request_token` (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`), which goes
/// to that URL's host only. Retries transient failures; a refusal is
/// [`RegistryError::ServiceStatus`], an answer without a token
/// [`RegistryError::ServiceAnswer`]. Errors never hold either token.
pub async fn github_actions_token(
    request_url: &str,
    request_token: &str,
    audience: &str,
    options: ClientOptions,
) -> Result<Zeroizing<String>, RegistryError> {
    let mut url = service_url(SERVICE, request_url, &options, true)?;
    url.query_pairs_mut().append_pair("audience", audience);
    // The URL's query may be a capability of its own: operations name the host and path.
    let operation = format!(
        "GET {}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path()
    );
    let http = http_client(&options)?;
    let bearer = Zeroizing::new(format!("bearer {request_token}"));
    let (url, operation, http, bearer) = (&url, &operation, &http, &bearer);
    let bytes = retrying(&options, || async move {
        let response = exchange(
            http.get(url.clone())
                .header(header::AUTHORIZATION, bearer.as_str())
                .header(header::ACCEPT, "application/json"),
        )
        .await
        .map_err(|e| transport_error(operation, &e))?;
        match response.status() {
            StatusCode::OK => read_limited(response, MAX_ANSWER_BYTES, operation).await,
            _ => Err(status_error(SERVICE, response, operation).await),
        }
    })
    .await?;
    let bytes = Zeroizing::new(bytes);
    let answer: Answer =
        serde_json::from_slice(&bytes).map_err(|_| RegistryError::ServiceAnswer {
            service: SERVICE,
            operation: operation.clone(),
            reason: "the answer is not {\"value\": TOKEN}".into(),
        })?;
    if answer.value.is_empty() {
        return Err(RegistryError::ServiceAnswer {
            service: SERVICE,
            operation: operation.clone(),
            reason: "the token is empty".into(),
        });
    }
    Ok(Zeroizing::new(answer.value))
}

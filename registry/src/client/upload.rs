//! Blob uploads (distribution-spec "Pushing blobs"): whether a blob or manifest is already
//! there, starting an upload (or mounting the blob from another repository of the same
//! registry), and finishing it with the whole body in one `PUT`, from memory or streamed.

use reqwest::header;
use reqwest::{Method, StatusCode};
use vouch_keys::Digest;

use super::{Access, RegistryClient, check_status};
use crate::RegistryError;
use crate::manifest::media_types;
use crate::reference::Reference;

/// How an upload began.
#[derive(Debug)]
pub(crate) enum UploadStart {
    /// The registry mounted the blob from the other repository: nothing to send.
    Mounted,
    /// An upload session: the URL (with the `digest` query already added) to `PUT` the
    /// content to.
    Session(reqwest::Url),
}

impl RegistryClient {
    /// Whether the repository of `reference` has the blob `digest` (`HEAD`; 404 means no).
    /// Asked with push access when `push`, so that the token then serves the upload too.
    pub(crate) async fn has_blob(
        &self,
        reference: &Reference,
        digest: &Digest,
        push: bool,
    ) -> Result<bool, RegistryError> {
        let url = format!("{}/blobs/{digest}", self.base_url(reference));
        let operation = format!("HEAD blob {digest} in {}", reference.repository());
        self.exists(reference, &url, &operation, push, None).await
    }

    /// Whether the repository of `reference` has the manifest `digest` (`HEAD`).
    pub(crate) async fn has_manifest(
        &self,
        reference: &Reference,
        digest: &Digest,
        push: bool,
    ) -> Result<bool, RegistryError> {
        let url = format!("{}/manifests/{digest}", self.base_url(reference));
        let operation = format!("HEAD manifest {digest} in {}", reference.repository());
        // A registry answers 404 for a manifest of a type the request does not accept
        // (distribution 2.8 does so for OCI manifests), so every type is named.
        let accept = media_types::ACCEPTED_MANIFESTS.join(", ");
        self.exists(reference, &url, &operation, push, Some(&accept))
            .await
    }

    async fn exists(
        &self,
        reference: &Reference,
        url: &str,
        operation: &str,
        push: bool,
        accept: Option<&str>,
    ) -> Result<bool, RegistryError> {
        let access = if push { Access::Push } else { Access::Pull };
        self.retrying(|| async move {
            let response = self
                .send(reference, access, operation, &|http| {
                    let request = http.head(url);
                    match accept {
                        Some(accept) => request.header(header::ACCEPT, accept),
                        None => request,
                    }
                })
                .await?;
            match response.status() {
                StatusCode::OK => Ok(true),
                StatusCode::NOT_FOUND => Ok(false),
                _ => check_status(response, operation).await.map(|_| false),
            }
        })
        .await
    }

    /// Starts an upload of the blob `digest` to the repository of `reference` (`POST
    /// /blobs/uploads/`). With `mount_from`, asks the registry to mount the blob from that
    /// repository of the same registry instead (`?mount=&from=`): a registry that can answers
    /// 201 and nothing is sent; one that cannot (or will not, lacking access to the other
    /// repository) answers 202 with an upload session as for a plain start.
    pub(crate) async fn start_upload(
        &self,
        reference: &Reference,
        digest: &Digest,
        mount_from: Option<&str>,
    ) -> Result<UploadStart, RegistryError> {
        let base = self.base_url(reference);
        let what = format!("blob {digest} in {}", reference.repository());
        let operation = match mount_from {
            Some(from) => format!("mounting {what} from {from}"),
            None => format!("uploading {what}"),
        };
        let url = match mount_from {
            Some(from) => {
                let mut url =
                    reqwest::Url::parse(&format!("{base}/blobs/uploads/")).map_err(|e| {
                        RegistryError::InvalidReference {
                            input: reference.to_string(),
                            reason: format!("cannot form the upload URL: {e}"),
                        }
                    })?;
                url.query_pairs_mut()
                    .append_pair("mount", &digest.to_string())
                    .append_pair("from", from);
                url.to_string()
            }
            None => format!("{base}/blobs/uploads/"),
        };
        let (url, operation) = (&url, &operation);
        self.retrying(|| async move {
            let start = self
                .send(reference, Access::Push, operation, &|http| {
                    http.post(url).header(header::CONTENT_LENGTH, "0")
                })
                .await?;
            let start = check_status(start, operation).await?;
            if mount_from.is_some() && start.status() == StatusCode::CREATED {
                return Ok(UploadStart::Mounted);
            }
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
                .append_pair("digest", &digest.to_string());
            Ok(UploadStart::Session(url))
        })
        .await
    }

    /// Finishes the upload session `url` with `body`, the whole blob, in one `PUT` (not
    /// retried: a streamed body cannot be sent twice; the caller starts over). The registry
    /// checks the content against the digest in `url` and refuses it otherwise.
    pub(crate) async fn finish_upload(
        &self,
        reference: &Reference,
        url: reqwest::Url,
        digest: &Digest,
        body: reqwest::Body,
        timeout: std::time::Duration,
    ) -> Result<(), RegistryError> {
        let operation = format!("uploading blob {digest} in {}", reference.repository());
        let body = std::sync::Mutex::new(Some(body));
        let done = self
            .send(reference, Access::Push, &operation, &|http| {
                // The session was authorised when it started, so the cached authorisation
                // serves this request and `send` builds it once. Should the registry still
                // challenge, the repeat goes without a body, and the registry refuses it
                // as not matching the digest rather than storing something else.
                let body = body
                    .lock()
                    .ok()
                    .and_then(|mut b| b.take())
                    .unwrap_or_else(|| reqwest::Body::from(Vec::new()));
                http.request(Method::PUT, url.clone())
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .timeout(timeout)
                    .body(body)
            })
            .await?;
        check_status(done, &operation).await.map(|_| ())
    }
}

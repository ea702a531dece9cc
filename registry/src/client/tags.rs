//! `GET /v2/<name>/tags/list`, one page.

use reqwest::StatusCode;

use super::{Access, RegistryClient, check_status, read_limited};
use crate::stream::TagPage;
use crate::{Reference, RegistryError};

impl RegistryClient {
    /// One page of the repository's tags (`n` and `last` as the distribution API has them),
    /// bounded by [`crate::Limits::max_manifest_bytes`]. A repository the registry does not
    /// know is [`RegistryError::NotFound`].
    pub(crate) async fn get_tags(
        &self,
        reference: &Reference,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<TagPage, RegistryError> {
        let mut url = reqwest::Url::parse(&format!("{}/tags/list", self.base_url(reference)))
            .map_err(|e| RegistryError::InvalidReference {
                input: reference.to_string(),
                reason: format!("cannot form the tags URL: {e}"),
            })?;
        if let Some(n) = n {
            url.query_pairs_mut().append_pair("n", &n.to_string());
        }
        if let Some(last) = last {
            url.query_pairs_mut().append_pair("last", last);
        }
        let operation = format!("GET tags of {}", reference.repository());
        let limit = self.options.limits.max_manifest_bytes;
        let (url, operation) = (&url, &operation);
        self.retrying(|| async move {
            let response = self
                .send(reference, Access::Pull, operation, &|http| {
                    http.get(url.clone())
                })
                .await?;
            if response.status() == StatusCode::NOT_FOUND {
                return Err(RegistryError::NotFound {
                    what: format!("repository {}", reference.repository()),
                });
            }
            let response = check_status(response, operation).await?;
            let more = response
                .headers()
                .get(reqwest::header::LINK)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.contains("rel=\"next\""));
            let bytes = read_limited(response, limit, operation).await?;
            #[derive(serde::Deserialize)]
            struct List {
                #[serde(default)]
                tags: Option<Vec<String>>,
            }
            let list: List =
                serde_json::from_slice(&bytes).map_err(|e| RegistryError::BadManifest {
                    what: operation.clone(),
                    reason: format!("the tag list is not JSON of the distribution API: {e}"),
                })?;
            Ok(TagPage {
                tags: list.tags.unwrap_or_default(),
                more,
            })
        })
        .await
    }
}

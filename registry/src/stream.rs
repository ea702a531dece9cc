//! Blobs streamed whole to someone else (a client of `vouch serve`), with their size and
//! digest checked as they pass, and repository tag lists.

use bytes::Bytes;
use vouch_keys::Hasher;

use crate::manifest::Descriptor;
use crate::store::{BlobSource, Store};
use crate::{Digest, RegistryError};

/// The largest piece read from a layout file at a time.
const FILE_CHUNK: usize = 256 * 1024;

/// A blob being read in chunks. [`BlobStream::next_chunk`] gives each chunk as it arrives and
/// gives `Ok(None)` only once all of the descriptor's bytes arrived and hashed to its digest;
/// more bytes than the descriptor says, fewer, or other bytes are an error instead. A caller
/// that forwards the chunks holds the last one back until that confirmation.
pub struct BlobStream {
    source: BlobSource,
    what: String,
    expected: Digest,
    size: u64,
    read: u64,
    hasher: Option<Hasher>,
}

impl std::fmt::Debug for BlobStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "BlobStream({}, {} of {} bytes)",
            self.what, self.read, self.size
        )
    }
}

impl BlobStream {
    /// The next chunk; `Ok(None)` at the end once size and digest are confirmed.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, RegistryError> {
        let chunk = match &mut self.source {
            BlobSource::Http(response) => response
                .chunk()
                .await
                .map_err(|e| crate::client::transport_error(&format!("GET {}", self.what), &e))?,
            BlobSource::File(file) => {
                use std::io::Read as _;
                let mut buffer = vec![0u8; FILE_CHUNK];
                let n = file.read(&mut buffer).map_err(|e| RegistryError::Io {
                    path: self.what.clone().into(),
                    source: e,
                })?;
                buffer.truncate(n);
                (n > 0).then(|| Bytes::from(buffer))
            }
        };
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(None);
        };
        match chunk {
            Some(chunk) => {
                self.read += chunk.len() as u64;
                if self.read > self.size {
                    return Err(RegistryError::TooLarge {
                        what: self.what.clone(),
                        limit: self.size,
                    });
                }
                hasher.update(&chunk);
                Ok(Some(chunk))
            }
            None => {
                let hasher = self.hasher.take().ok_or_else(|| RegistryError::Io {
                    path: self.what.clone().into(),
                    source: std::io::Error::other("read after the end"),
                })?;
                if self.read != self.size {
                    return Err(RegistryError::LayerContent {
                        layer: self.expected.clone(),
                        reason: format!(
                            "{} bytes arrived, the descriptor says {}",
                            self.read, self.size
                        ),
                    });
                }
                hasher
                    .finish()
                    .map_err(|found| RegistryError::DigestMismatch {
                        what: self.what.clone(),
                        expected: self.expected.clone(),
                        found,
                    })?;
                Ok(None)
            }
        }
    }
}

/// One page of a repository's tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagPage {
    /// The tags, in the order the registry lists them (lexical).
    pub tags: Vec<String>,
    /// True when the registry said more follow (a `Link` header).
    pub more: bool,
}

impl Store {
    /// Opens the blob `descriptor` names for streaming, checked as it is read
    /// ([`BlobStream`]).
    pub async fn stream_blob(&self, descriptor: &Descriptor) -> Result<BlobStream, RegistryError> {
        let source = self.open_blob(descriptor).await?;
        Ok(BlobStream {
            source,
            what: format!("blob {}", descriptor.digest),
            expected: descriptor.digest.clone(),
            size: descriptor.size,
            read: 0,
            hasher: Some(descriptor.digest.hasher()),
        })
    }

    /// The repository's tags: at most `n` (when given) after `last` (when given), as the
    /// distribution API's `tags/list` pages them. A layout lists the names of its index.
    pub async fn tags(
        &self,
        n: Option<usize>,
        last: Option<&str>,
    ) -> Result<TagPage, RegistryError> {
        let (mut tags, mut more) = match self {
            Store::Registry { client, repository } => {
                let page = client.get_tags(repository, n, last).await?;
                (page.tags, page.more)
            }
            Store::Layout { layout, .. } => {
                let tags = layout
                    .index()?
                    .manifests
                    .iter()
                    .filter_map(|d| {
                        d.annotations
                            .get(crate::manifest::REF_NAME_ANNOTATION)
                            .cloned()
                    })
                    .collect();
                (tags, false)
            }
        };
        // Registries that do not page (distribution 2.8 ignores `n` and `last`) are paged
        // here, which changes nothing for one that did.
        tags.retain(|t| last.is_none_or(|last| t.as_str() > last));
        tags.sort();
        tags.dedup();
        if let Some(n) = n
            && tags.len() > n
        {
            tags.truncate(n);
            more = true;
        }
        Ok(TagPage { tags, more })
    }
}

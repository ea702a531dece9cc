//! The trust decision for container images, made in one place for every front end of vouch
//! (the CLI's `verify`, the verifying registry proxy, the admission webhook, and programs
//! that embed it): a [`TrustPolicy`] says which authorities must vouch for which images, an
//! [`EvidenceSource`](evidence::EvidenceSource) reads what is stored about an image (a
//! registry or an OCI layout through `vouch-registry`, or anything else), `vouch-verifier`'s
//! pure checks verify each signature and attestation, and one typed [`Decision`] comes back
//! with every check and the first blocking reason. [`explain::EvidenceGraph`] lays a decision
//! out as the graph of its evidence, with the link that blocked the image marked.
//!
//! ```no_run
//! use std::path::Path;
//! use vouch_policy::{ImageName, TrustPolicy, evidence::StoreSource};
//! use vouch_registry::{ClientOptions, ImageReference, RegistryClient};
//! use vouch_verifier::time::UnixTime;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let policy = TrustPolicy::load(Path::new("policy.yaml"))?;
//! let client = RegistryClient::new(ClientOptions::default())?;
//! let image = ImageReference::parse("registry.example/team/app:v1")?;
//! let source = StoreSource::open(&client, &image)?;
//! let now = UnixTime::from_system_time(std::time::SystemTime::now());
//! let decision = policy.decide(&ImageName::of(&image), &source, now).await;
//! if !decision.allowed {
//!     eprintln!("denied: {}", decision.reason.unwrap_or_default());
//! }
//! # Ok(()) }
//! ```

pub mod cache;
pub mod cluster_image_policy;
pub mod containers;
pub mod decide;
pub mod decision;
pub mod error;
pub mod evidence;
pub mod explain;
pub mod pattern;
pub mod policy;
pub mod roots;

pub use decide::ImageName;
pub use decision::{Decision, Denial, Verdict};
pub use error::{EvidenceError, PolicyError};
pub use policy::TrustPolicy;

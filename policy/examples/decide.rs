//! Decides one image against a trust policy file, as `vouch verify --policy` does, and prints
//! the decision as JSON.
//!
//! ```sh
//! cargo run -p vouch-policy --example decide -- policy.yaml registry.example/app:v1
//! ```

use std::process::ExitCode;

use vouch_policy::evidence::StoreSource;
use vouch_policy::{ImageName, TrustPolicy};
use vouch_registry::{ClientOptions, ImageReference, RegistryClient};
use vouch_verifier::time::UnixTime;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, policy, image] = args.as_slice() else {
        eprintln!("usage: decide POLICY.yaml IMAGE");
        return Ok(ExitCode::from(2));
    };
    let policy = TrustPolicy::load(policy.as_ref())?;
    let image = ImageReference::parse(image)?;
    let source = StoreSource::open(&RegistryClient::new(ClientOptions::default())?, &image)?;
    let now = UnixTime::from_system_time(std::time::SystemTime::now());
    let decision = policy.decide(&ImageName::of(&image), &source, now).await;
    println!("{}", serde_json::to_string_pretty(&decision)?);
    Ok(ExitCode::from(decision.exit_code()))
}

//! Sigstore's signing config (`application/vnd.dev.sigstore.signingconfig.v0.2+json`,
//! protobuf-specs `dev.sigstore.trustroot.v1.SigningConfig`): which certificate authorities,
//! transparency logs and timestamp authorities a signer uses, and how many of each. Parsing
//! and service selection only; nothing is contacted.
//!
//! Selection follows the specification: of each list, only services whose `validFor` holds
//! the signing time and whose `majorApiVersion` the client speaks count; per operator, the
//! one with the highest API version is taken; then `ANY` takes one operator's (the first
//! listed), `ALL` every operator's, `EXACT` `count` operators' (too few is an error).
//!
//! ```
//! use vouch_verifier::signing_config::{SigningConfig, Supported};
//! use vouch_verifier::time::UnixTime;
//!
//! let config = SigningConfig::public_good().unwrap();
//! let now = UnixTime::from_secs(1_800_000_000);
//! let services = config.select(now, Supported::default()).unwrap();
//! assert_eq!(services.ca.unwrap().url, "https://fulcio.sigstore.dev");
//! assert_eq!(services.tlogs[0].url, "https://rekor.sigstore.dev");
//! ```

use serde::Deserialize;

use crate::VerifyError;
use crate::time::UnixTime;

/// The media type of the signing configs read.
pub const MEDIA_TYPE_V0_2: &str = "application/vnd.dev.sigstore.signingconfig.v0.2+json";

/// The embedded public-good signing config (see `trusted_root/README.md`).
pub const PUBLIC_GOOD_JSON: &[u8] =
    include_bytes!("trusted_root/sigstore-public-good-signing_config.v0.2.json");

/// One service of a signing config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// The service's URL.
    pub url: String,
    /// The major version of its API.
    pub major_api_version: u32,
    /// When it may be used: from `start`, until `end` when it has one.
    pub valid_from: UnixTime,
    /// The end of its validity, if any.
    pub valid_until: Option<UnixTime>,
    /// Who runs it: services of one operator count once.
    pub operator: String,
}

/// How many services of a kind to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selector {
    /// Every operator's.
    All,
    /// One.
    Any,
    /// Exactly this many operators'.
    Exact(u32),
}

/// A parsed signing config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningConfig {
    /// Fulcio instances (`caUrls`).
    pub certificate_authorities: Vec<Service>,
    /// Rekor logs (`rekorTlogUrls`).
    pub tlogs: Vec<Service>,
    /// How many logs to upload to.
    pub tlog_selector: Selector,
    /// RFC 3161 timestamp authorities (`tsaUrls`).
    pub timestamp_authorities: Vec<Service>,
    /// How many timestamps to get.
    pub tsa_selector: Selector,
}

/// The API versions a client speaks, per kind of service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supported {
    /// Fulcio API versions (v1 of the config is Fulcio's `/api/v2` endpoints).
    pub ca: &'static [u32],
    /// Rekor API versions.
    pub tlog: &'static [u32],
    /// Timestamp authority API versions.
    pub tsa: &'static [u32],
}

impl Default for Supported {
    /// What vouch speaks: Fulcio 1, Rekor 1 and 2, timestamp authority 1.
    fn default() -> Self {
        Self {
            ca: &[1],
            tlog: &[1, 2],
            tsa: &[1],
        }
    }
}

/// The services chosen for one signing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selected {
    /// The certificate authority to ask, if the config names a usable one.
    pub ca: Option<Service>,
    /// The transparency logs to upload to (a log's API version says how).
    pub tlogs: Vec<Service>,
    /// The timestamp authorities to ask.
    pub timestamp_authorities: Vec<Service>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawConfig {
    media_type: String,
    #[serde(default)]
    ca_urls: Vec<RawService>,
    #[serde(default)]
    rekor_tlog_urls: Vec<RawService>,
    #[serde(default)]
    tsa_urls: Vec<RawService>,
    #[serde(default)]
    rekor_tlog_config: Option<RawSelector>,
    #[serde(default)]
    tsa_config: Option<RawSelector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawService {
    url: String,
    #[serde(default)]
    major_api_version: u32,
    valid_for: Option<RawRange>,
    #[serde(default)]
    operator: String,
}

#[derive(Deserialize)]
struct RawRange {
    start: Option<String>,
    end: Option<String>,
}

#[derive(Deserialize)]
struct RawSelector {
    #[serde(default)]
    selector: Option<String>,
    #[serde(default)]
    count: u32,
}

fn invalid(reason: String) -> VerifyError {
    VerifyError::SigningConfig { reason }
}

fn service(raw: RawService, list: &str, index: usize) -> Result<Service, VerifyError> {
    let at = |what: &str| format!("{list}[{index}]: {what}");
    if raw.url.is_empty() {
        return Err(invalid(at("has no url")));
    }
    let time = |text: &Option<String>, field: &str| -> Result<Option<UnixTime>, VerifyError> {
        text.as_deref()
            .map(|t| {
                UnixTime::parse_rfc3339(t)
                    .map_err(|e| invalid(at(&format!("validFor.{field}: {e}"))))
            })
            .transpose()
    };
    let range = raw
        .valid_for
        .ok_or_else(|| invalid(at("has no validFor")))?;
    Ok(Service {
        valid_from: time(&range.start, "start")?
            .ok_or_else(|| invalid(at("validFor has no start")))?,
        valid_until: time(&range.end, "end")?,
        url: raw.url,
        major_api_version: raw.major_api_version,
        operator: raw.operator,
    })
}

fn selector(raw: Option<RawSelector>, field: &str) -> Result<Selector, VerifyError> {
    let Some(raw) = raw else {
        return Ok(Selector::Any);
    };
    match raw.selector.as_deref() {
        Some("ALL") => Ok(Selector::All),
        Some("ANY") | None => Ok(Selector::Any),
        Some("EXACT") if raw.count > 0 => Ok(Selector::Exact(raw.count)),
        Some("EXACT") => Err(invalid(format!("{field}: EXACT needs a count above 0"))),
        Some(other) => Err(invalid(format!("{field}: unknown selector {other:?}"))),
    }
}

impl SigningConfig {
    /// Reads a v0.2 signing config. Another media type, a service without a URL or validity
    /// start, or an unknown selector is [`VerifyError::SigningConfig`].
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        let raw: RawConfig = serde_json::from_slice(bytes)
            .map_err(|e| invalid(format!("not a signing config: {e}")))?;
        if raw.media_type != MEDIA_TYPE_V0_2 {
            return Err(invalid(format!(
                "media type {:?} is not {MEDIA_TYPE_V0_2}",
                raw.media_type
            )));
        }
        let list = |services: Vec<RawService>, name: &str| {
            services
                .into_iter()
                .enumerate()
                .map(|(index, raw)| service(raw, name, index))
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            certificate_authorities: list(raw.ca_urls, "caUrls")?,
            tlogs: list(raw.rekor_tlog_urls, "rekorTlogUrls")?,
            tlog_selector: selector(raw.rekor_tlog_config, "rekorTlogConfig")?,
            timestamp_authorities: list(raw.tsa_urls, "tsaUrls")?,
            tsa_selector: selector(raw.tsa_config, "tsaConfig")?,
        })
    }

    /// The embedded public-good signing config.
    pub fn public_good() -> Result<Self, VerifyError> {
        Self::from_json(PUBLIC_GOOD_JSON)
    }

    /// The services to use for a signing at `now` by a client speaking `supported`. A
    /// selector asking for more operators than there are usable is an error naming the
    /// kind; no usable CA is `ca: None` (a key signer needs none).
    pub fn select(&self, now: UnixTime, supported: Supported) -> Result<Selected, VerifyError> {
        let ca = usable(&self.certificate_authorities, now, supported.ca)
            .into_iter()
            .next();
        Ok(Selected {
            ca,
            tlogs: choose(
                &self.tlogs,
                self.tlog_selector,
                now,
                supported.tlog,
                "transparency log",
            )?,
            timestamp_authorities: choose(
                &self.timestamp_authorities,
                self.tsa_selector,
                now,
                supported.tsa,
                "timestamp authority",
            )?,
        })
    }

    /// Whether the config lists Rekor logs valid at `now` that only speak API versions
    /// outside `supported` (a Rekor v2-only config, for a client that speaks v1).
    pub fn unsupported_tlogs(&self, now: UnixTime, supported: Supported) -> Vec<&Service> {
        self.tlogs
            .iter()
            .filter(|s| valid(s, now) && !supported.tlog.contains(&s.major_api_version))
            .collect()
    }
}

fn valid(service: &Service, now: UnixTime) -> bool {
    service.valid_from <= now && service.valid_until.is_none_or(|end| now <= end)
}

/// The usable services, one per operator (its highest supported API version), in the order
/// the operators first appear.
fn usable(services: &[Service], now: UnixTime, versions: &[u32]) -> Vec<Service> {
    let mut operators: Vec<(&str, &Service)> = Vec::new();
    for service in services
        .iter()
        .filter(|s| valid(s, now) && versions.contains(&s.major_api_version))
    {
        match operators.iter_mut().find(|(op, _)| *op == service.operator) {
            Some((_, best)) if best.major_api_version < service.major_api_version => {
                *best = service;
            }
            Some(_) => {}
            None => operators.push((&service.operator, service)),
        }
    }
    operators.into_iter().map(|(_, s)| s.clone()).collect()
}

fn choose(
    services: &[Service],
    selector: Selector,
    now: UnixTime,
    versions: &[u32],
    kind: &str,
) -> Result<Vec<Service>, VerifyError> {
    let mut urls = usable(services, now, versions);
    match selector {
        Selector::All => {}
        Selector::Any => urls.truncate(1),
        Selector::Exact(count) => {
            if urls.len() < count as usize {
                let asked = if count == 1 {
                    format!("1 {kind} operator")
                } else {
                    format!("{count} {kind} operators")
                };
                let usable = match urls.len() {
                    1 => "1 is".to_owned(),
                    n => format!("{n} are"),
                };
                return Err(invalid(format!(
                    "it asks for {asked} and {usable} usable now"
                )));
            }
            urls.truncate(count as usize);
        }
    }
    Ok(urls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: serde_json::Value) -> Result<SigningConfig, VerifyError> {
        SigningConfig::from_json(value.to_string().as_bytes())
    }

    fn svc(
        url: &str,
        version: u32,
        operator: &str,
        start: &str,
        end: Option<&str>,
    ) -> serde_json::Value {
        let mut range = json!({"start": start});
        if let Some(end) = end {
            range["end"] = json!(end);
        }
        json!({"url": url, "majorApiVersion": version, "validFor": range, "operator": operator})
    }

    #[test]
    fn selection_follows_validity_versions_and_operators() {
        let c = config(json!({
            "mediaType": MEDIA_TYPE_V0_2,
            "caUrls": [svc("https://old-ca", 1, "a", "2020-01-01T00:00:00Z", Some("2021-01-01T00:00:00Z")),
                       svc("https://ca", 1, "a", "2021-01-01T00:00:00Z", None)],
            "rekorTlogUrls": [svc("https://rekor-v2", 2, "a", "2020-01-01T00:00:00Z", None),
                              svc("https://rekor-a", 1, "a", "2020-01-01T00:00:00Z", None),
                              svc("https://rekor-b", 1, "b", "2020-01-01T00:00:00Z", None)],
            "rekorTlogConfig": {"selector": "ALL"},
            "tsaUrls": [svc("https://tsa-a", 1, "a", "2020-01-01T00:00:00Z", None),
                        svc("https://tsa-b", 1, "b", "2020-01-01T00:00:00Z", None)],
            "tsaConfig": {"selector": "EXACT", "count": 2},
        }))
        .unwrap();
        let now = UnixTime::parse_rfc3339("2022-06-01T00:00:00Z").unwrap();
        let urls =
            |services: &[Service]| services.iter().map(|s| s.url.clone()).collect::<Vec<_>>();
        let v1 = Supported {
            tlog: &[1],
            ..Supported::default()
        };
        let chosen = c.select(now, v1).unwrap();
        assert_eq!(chosen.ca.unwrap().url, "https://ca");
        assert_eq!(urls(&chosen.tlogs), ["https://rekor-a", "https://rekor-b"]);
        assert_eq!(
            urls(&chosen.timestamp_authorities),
            ["https://tsa-a", "https://tsa-b"]
        );
        assert_eq!(c.unsupported_tlogs(now, v1).len(), 1);
        let chosen = c.select(now, Supported::default()).unwrap();
        assert_eq!(urls(&chosen.tlogs), ["https://rekor-v2", "https://rekor-b"]);
        assert_eq!(chosen.tlogs[0].major_api_version, 2);
        let early = UnixTime::parse_rfc3339("2019-06-01T00:00:00Z").unwrap();
        let error = c.select(early, Supported::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("2 timestamp authority operators and 0 are usable now"),
            "{error}"
        );
        let one = config(json!({
            "mediaType": MEDIA_TYPE_V0_2,
            "tsaUrls": [svc("https://tsa-a", 1, "a", "2020-01-01T00:00:00Z", None)],
            "tsaConfig": {"selector": "EXACT", "count": 1},
        }))
        .unwrap();
        let error = one.select(early, Supported::default()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("it asks for 1 timestamp authority operator and 0 are usable now"),
            "{error}"
        );
    }

    #[test]
    fn malformed_configs_say_what_is_wrong() {
        for (value, needle) in [
            (json!({"mediaType": "x"}), "media type"),
            (
                json!({"mediaType": MEDIA_TYPE_V0_2, "caUrls": [{"url": "https://ca"}]}),
                "caUrls[0]: has no validFor",
            ),
            (
                json!({"mediaType": MEDIA_TYPE_V0_2, "tsaUrls": [svc("https://t", 1, "a", "yesterday", None)]}),
                "tsaUrls[0]: validFor.start",
            ),
            (
                json!({"mediaType": MEDIA_TYPE_V0_2, "tsaConfig": {"selector": "SOME"}}),
                "unknown selector",
            ),
            (
                json!({"mediaType": MEDIA_TYPE_V0_2, "tsaConfig": {"selector": "EXACT"}}),
                "count above 0",
            ),
        ] {
            let error = config(value.clone()).unwrap_err().to_string();
            assert!(error.contains(needle), "{value}: {error}");
        }
    }

    #[test]
    fn the_public_good_config_reads() {
        let c = SigningConfig::public_good().unwrap();
        let now = UnixTime::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
        let chosen = c.select(now, Supported::default()).unwrap();
        assert_eq!(chosen.ca.unwrap().url, "https://fulcio.sigstore.dev");
        assert_eq!(chosen.tlogs[0].url, "https://rekor.sigstore.dev");
        assert_eq!(
            chosen.timestamp_authorities[0].url,
            "https://timestamp.sigstore.dev/api/v1/timestamp"
        );
    }
}

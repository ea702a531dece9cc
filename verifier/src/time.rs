//! Instants in UTC, read from the three textual forms trust material uses: RFC 3339 (trusted
//! roots), ASN.1 UTCTime and GeneralizedTime (X.509 validity, RFC 3161 `genTime`).
//!
//! No clock is read here: the current time is always passed in by the caller.

use std::fmt;

/// An instant, as seconds and nanoseconds since 1970-01-01T00:00:00Z. Ordered by time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnixTime {
    secs: i64,
    nanos: u32,
}

/// A time that could not be read, with the text and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {format} time {text:?}: {reason}")]
pub struct TimeError {
    /// Which form was expected (`RFC 3339`, `UTCTime`, `GeneralizedTime`).
    pub format: &'static str,
    /// The text given (truncated to 64 characters).
    pub text: String,
    /// What was wrong.
    pub reason: &'static str,
}

impl UnixTime {
    /// The instant `secs` seconds after the Unix epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Self { secs, nanos: 0 }
    }

    /// Whole seconds since the epoch (rounded down).
    pub const fn secs(self) -> i64 {
        self.secs
    }

    /// The current time from the system clock. Only callers at the edge (the CLI) use this;
    /// verification takes the time as an argument.
    pub fn now() -> Self {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Self {
                secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanos: d.subsec_nanos(),
            },
            Err(e) => {
                let d = e.duration();
                let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
                if d.subsec_nanos() == 0 {
                    Self::from_secs(-secs)
                } else {
                    Self {
                        secs: -secs - 1,
                        nanos: 1_000_000_000 - d.subsec_nanos(),
                    }
                }
            }
        }
    }

    /// Reads an RFC 3339 date-time (`2022-04-14T21:38:40Z`, `...40.123Z`, `...40+02:00`), as
    /// protobuf's JSON mapping of `Timestamp` writes it.
    pub fn parse_rfc3339(text: &str) -> Result<Self, TimeError> {
        vouch_keys::time::parse_rfc3339(text)
            .map(|(secs, nanos)| Self { secs, nanos })
            .map_err(|reason| error("RFC 3339", text, reason))
    }

    /// Reads the contents of an ASN.1 UTCTime as RFC 5280 section 4.1.2.5.1 requires it
    /// (`YYMMDDHHMMSSZ`; years 50-99 are 19xx, 00-49 are 20xx).
    pub fn parse_utc_time(contents: &[u8]) -> Result<Self, TimeError> {
        vouch_keys::time::parse_utc_time(contents)
            .map(Self::from_secs)
            .map_err(|reason| error("UTCTime", &String::from_utf8_lossy(contents), reason))
    }

    /// Reads the contents of an ASN.1 GeneralizedTime: `YYYYMMDDHHMMSS[.f+]Z` (RFC 5280
    /// section 4.1.2.5.2 forbids the fraction in certificates; RFC 3161 `genTime` allows it).
    pub fn parse_generalized_time(contents: &[u8]) -> Result<Self, TimeError> {
        vouch_keys::time::parse_generalized_time(contents)
            .map(|(secs, nanos)| Self { secs, nanos })
            .map_err(|reason| {
                error(
                    "GeneralizedTime",
                    &String::from_utf8_lossy(contents),
                    reason,
                )
            })
    }
}

impl fmt::Display for UnixTime {
    /// RFC 3339 in UTC, whole seconds: `2024-05-01T12:00:00Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&vouch_keys::time::format_rfc3339(self.secs))
    }
}

fn error(format: &'static str, text: &str, reason: &'static str) -> TimeError {
    TimeError {
        format,
        text: text.chars().take(64).collect(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms_agree() {
        let z = UnixTime::parse_rfc3339("2022-04-14T21:38:40Z").unwrap();
        assert_eq!(z.secs(), 1_649_972_320);
        let offset = UnixTime::parse_rfc3339("2022-04-14T23:38:40+02:00").unwrap();
        assert_eq!(offset, z);
        let fraction = UnixTime::parse_rfc3339("2022-04-14T21:38:40.5Z").unwrap();
        assert!(fraction > z);
        assert_eq!(fraction.secs(), z.secs());
        assert_eq!(z.to_string(), "2022-04-14T21:38:40Z");
    }

    #[test]
    fn asn1_forms_agree() {
        let utc = UnixTime::parse_utc_time(b"220414213840Z").unwrap();
        let generalized = UnixTime::parse_generalized_time(b"20220414213840Z").unwrap();
        assert_eq!(utc, generalized);
        assert_eq!(
            UnixTime::parse_utc_time(b"500101000000Z").unwrap().secs(),
            -631_152_000
        );
        let fraction = UnixTime::parse_generalized_time(b"20220414213840.123Z").unwrap();
        assert!(fraction > generalized);
    }

    #[test]
    fn impossible_times_are_refused() {
        for text in [
            "2022-02-30T00:00:00Z",
            "2022-04-14T24:00:00Z",
            "2022-04-14T21:38:60Z",
            "2022-04-14 21:38:40Z",
            "2022-04-14T21:38:40",
            "2022-04-14T21:38:40.Z",
        ] {
            assert!(UnixTime::parse_rfc3339(text).is_err(), "{text}");
        }
        assert!(UnixTime::parse_generalized_time(b"20220414213840.120Z").is_err());
        assert!(UnixTime::parse_utc_time(b"2204142138Z").is_err());
        assert!(UnixTime::parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
        assert!(UnixTime::parse_rfc3339("2023-02-29T00:00:00Z").is_err());
    }

    #[test]
    fn display_round_trips() {
        for secs in [0, 951_782_400, 1_709_164_800, -86_400, 4_102_444_799] {
            let time = UnixTime::from_secs(secs);
            assert_eq!(UnixTime::parse_rfc3339(&time.to_string()).unwrap(), time);
        }
    }
}

//! RFC 3339 timestamps as provenance writes them (`2024-05-01T12:00:00Z`), through
//! [`vouch_keys::time`].

use std::time::SystemTime;

/// `time` in UTC with whole seconds: `2024-05-01T12:00:00Z`. A time before 1970 is written
/// as the epoch (no build ran then).
pub(super) fn format_rfc3339(time: SystemTime) -> String {
    vouch_keys::time::format_rfc3339(vouch_keys::time::unix_secs(time).max(0))
}

/// Seconds since the Unix epoch of an RFC 3339 date-time (`2022-04-14T21:38:40Z`,
/// `...40.123Z`, `...40+02:00`; fractions are dropped), or `None` when the text is not one.
pub(super) fn parse_rfc3339(text: &str) -> Option<i64> {
    vouch_keys::time::parse_rfc3339(text)
        .ok()
        .map(|(secs, _)| secs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn provenance_times_round_trip() {
        let time = UNIX_EPOCH + Duration::from_secs(1_649_972_320);
        assert_eq!(format_rfc3339(time), "2022-04-14T21:38:40Z");
        assert_eq!(parse_rfc3339("2022-04-14T21:38:40Z"), Some(1_649_972_320));
        assert_eq!(
            format_rfc3339(UNIX_EPOCH - Duration::from_secs(5)),
            "1970-01-01T00:00:00Z"
        );
        assert_eq!(parse_rfc3339("2022-04-14T21:38:40"), None);
    }
}

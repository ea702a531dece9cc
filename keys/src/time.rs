//! Calendar arithmetic for the timestamps that signed formats carry: RFC 3339 date-times in
//! trusted roots, provenance and referrer annotations, and the civil dates of X.509 times.
//! Proleptic Gregorian calendar, UTC, no leap seconds (RFC 5280 and protobuf refuse `:60`).
//!
//! No clock is read here.
//!
//! ```
//! use vouch_keys::time::{format_rfc3339, parse_rfc3339};
//!
//! assert_eq!(parse_rfc3339("2022-04-14T23:38:40.5+02:00"), Ok((1_649_972_320, 500_000_000)));
//! assert_eq!(format_rfc3339(1_649_972_320), "2022-04-14T21:38:40Z");
//! assert!(parse_rfc3339("2023-02-29T00:00:00Z").is_err());
//! ```

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Reads an RFC 3339 date-time (`2022-04-14T21:38:40Z`, `...40.123Z`, `...40+02:00`; `T`/`t`
/// and `Z`/`z` in either case), as protobuf's JSON mapping of `Timestamp` writes it, into
/// seconds since the Unix epoch and nanoseconds. The error says what was wrong.
pub fn parse_rfc3339(text: &str) -> Result<(i64, u32), &'static str> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't') {
        return Err("expected YYYY-MM-DDTHH:MM:SS followed by a zone");
    }
    if b[13] != b':' || b[16] != b':' {
        return Err("expected HH:MM:SS");
    }
    let year = digits(&b[0..4]).ok_or("bad year")?;
    let month = digits(&b[5..7]).ok_or("bad month")?;
    let day = digits(&b[8..10]).ok_or("bad day")?;
    let hour = digits(&b[11..13]).ok_or("bad hour")?;
    let minute = digits(&b[14..16]).ok_or("bad minute")?;
    let second = digits(&b[17..19]).ok_or("bad second")?;
    let mut rest = &b[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix(b".") {
        let len = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if len == 0 || len > 9 {
            return Err("fractional seconds need 1 to 9 digits");
        }
        nanos = fraction_nanos(&fraction[..len]);
        rest = &fraction[len..];
    }
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let h = digits(&[*h1, *h2]).ok_or("bad zone offset")?;
            let m = digits(&[*m1, *m2]).ok_or("bad zone offset")?;
            if h > 23 || m > 59 {
                return Err("bad zone offset");
            }
            let seconds = i64::from(h * 3600 + m * 60);
            if *sign == b'+' { seconds } else { -seconds }
        }
        _ => return Err("expected a zone: Z or +HH:MM"),
    };
    let secs = civil_to_secs(year, month, day, hour, minute, second).ok_or("no such date")?;
    Ok((secs - offset, nanos))
}

/// Reads the contents of an ASN.1 UTCTime as RFC 5280 section 4.1.2.5.1 requires it
/// (`YYMMDDHHMMSSZ`; years 50-99 are 19xx, 00-49 are 20xx) into seconds since the epoch.
pub fn parse_utc_time(contents: &[u8]) -> Result<i64, &'static str> {
    if contents.len() != 13 || contents[12] != b'Z' {
        return Err("expected YYMMDDHHMMSSZ");
    }
    let yy = digits(&contents[0..2]).ok_or("bad year")?;
    let year = if yy >= 50 { 1900 + yy } else { 2000 + yy };
    asn1_fields(&contents[2..12], year).ok_or("no such date")
}

/// Reads the contents of an ASN.1 GeneralizedTime, `YYYYMMDDHHMMSS[.f+]Z`, into seconds since
/// the epoch and nanoseconds. RFC 5280 section 4.1.2.5.2 forbids the fraction in
/// certificates; RFC 3161 `genTime` allows it, without trailing zeros (X.690 11.7.3).
pub fn parse_generalized_time(contents: &[u8]) -> Result<(i64, u32), &'static str> {
    if contents.len() < 15 || contents.last() != Some(&b'Z') {
        return Err("expected YYYYMMDDHHMMSS[.fff]Z");
    }
    let year = digits(&contents[0..4]).ok_or("bad year")?;
    let secs = asn1_fields(&contents[4..14], year).ok_or("no such date")?;
    let rest = &contents[14..contents.len() - 1];
    if rest.is_empty() {
        return Ok((secs, 0));
    }
    let fraction = rest.strip_prefix(b".").ok_or("bad fraction")?;
    if fraction.is_empty()
        || fraction.len() > 9
        || fraction.ends_with(b"0")
        || !fraction.iter().all(u8::is_ascii_digit)
    {
        return Err("bad fraction");
    }
    Ok((secs, fraction_nanos(fraction)))
}

/// `MMDDHHMMSS` of `year`, as seconds since the epoch.
fn asn1_fields(b: &[u8], year: u32) -> Option<i64> {
    let month = digits(&b[0..2])?;
    let day = digits(&b[2..4])?;
    let hour = digits(&b[4..6])?;
    let minute = digits(&b[6..8])?;
    let second = digits(&b[8..10])?;
    civil_to_secs(year, month, day, hour, minute, second)
}

/// `secs` since the Unix epoch as RFC 3339 in UTC with whole seconds, as Go's
/// `time.RFC3339` prints a UTC time: `2024-05-01T12:00:00Z`.
pub fn format_rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Four-digit years get their digits written directly: every verification report formats
    // several times, and the formatter costs far more than the arithmetic.
    let year4 = match u32::try_from(year) {
        Ok(year4) if year4 <= 9999 => year4,
        _ => return format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z"),
    };
    let two = |n: u32| [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
    let (h, m, s) = (hour as u32, minute as u32, second as u32);
    let mut text = [0u8; 20];
    text[..4].copy_from_slice(&[
        b'0' + (year4 / 1000) as u8,
        b'0' + (year4 / 100 % 10) as u8,
        b'0' + (year4 / 10 % 10) as u8,
        b'0' + (year4 % 10) as u8,
    ]);
    text[4] = b'-';
    text[5..7].copy_from_slice(&two(month));
    text[7] = b'-';
    text[8..10].copy_from_slice(&two(day));
    text[10] = b'T';
    text[11..13].copy_from_slice(&two(h));
    text[13] = b':';
    text[14..16].copy_from_slice(&two(m));
    text[16] = b':';
    text[17..19].copy_from_slice(&two(s));
    text[19] = b'Z';
    text.iter().map(|&b| char::from(b)).collect()
}

/// Whole seconds since the Unix epoch of `time` (rounded down; negative before 1970).
pub fn unix_secs(time: SystemTime) -> i64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => {
            let d = e.duration();
            let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            if d.subsec_nanos() == 0 {
                -secs
            } else {
                -secs - 1
            }
        }
    }
}

/// Seconds since the epoch of a proleptic-Gregorian UTC date and time, or `None` when a field
/// is out of range (month 13, February 30, hour 24, second 60).
pub fn civil_to_secs(
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
) -> Option<i64> {
    let leap = (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day == 0 || day > month_days[month as usize - 1] {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second))
}

/// The date of a day count since 1970-01-01 (Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn digits(b: &[u8]) -> Option<u32> {
    b.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

fn fraction_nanos(fraction: &[u8]) -> u32 {
    let mut nanos = digits(fraction).unwrap_or(0);
    for _ in fraction.len()..9 {
        nanos *= 10;
    }
    nanos
}

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

    /// The instant a [`SystemTime`] value stands for (a value given by the caller: nothing
    /// here reads the clock). Times before the epoch are kept, negative.
    pub fn from_system_time(time: SystemTime) -> Self {
        match time.duration_since(UNIX_EPOCH) {
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
        parse_rfc3339(text)
            .map(|(secs, nanos)| Self { secs, nanos })
            .map_err(|reason| error("RFC 3339", text, reason))
    }

    /// Reads the contents of an ASN.1 UTCTime as RFC 5280 section 4.1.2.5.1 requires it
    /// (`YYMMDDHHMMSSZ`; years 50-99 are 19xx, 00-49 are 20xx).
    pub fn parse_utc_time(contents: &[u8]) -> Result<Self, TimeError> {
        parse_utc_time(contents)
            .map(Self::from_secs)
            .map_err(|reason| error("UTCTime", &String::from_utf8_lossy(contents), reason))
    }

    /// Reads the contents of an ASN.1 GeneralizedTime: `YYYYMMDDHHMMSS[.f+]Z` (RFC 5280
    /// section 4.1.2.5.2 forbids the fraction in certificates; RFC 3161 `genTime` allows it).
    pub fn parse_generalized_time(contents: &[u8]) -> Result<Self, TimeError> {
        parse_generalized_time(contents)
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
        f.write_str(&format_rfc3339(self.secs))
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
    use std::time::Duration;

    #[test]
    fn rfc3339_digits_match_the_formatter_for_every_year_width() {
        for secs in [
            i64::MIN / 2,
            -62_167_219_200 - 1, // 0000-01-01 minus a second: year -1
            -62_167_219_200,     // 0000-01-01T00:00:00Z
            -1,
            0,
            59,
            3599,
            86_399,
            951_782_400,
            1_710_869_186,
            253_402_300_799, // 9999-12-31T23:59:59Z
            253_402_300_800, // 10000-01-01
            i64::MAX / 2,
        ] {
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            let (year, month, day) = civil_from_days(days);
            let expected = format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            );
            assert_eq!(format_rfc3339(secs), expected, "{secs}");
        }
    }

    #[test]
    fn formatting_and_parsing_agree() {
        for secs in [0, 951_782_400, 1_649_972_320, 4_102_444_799, -86_400] {
            let text = format_rfc3339(secs);
            assert_eq!(parse_rfc3339(&text), Ok((secs, 0)), "{text}");
        }
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(
            parse_rfc3339("2022-04-14T23:38:40.5+02:00"),
            Ok((1_649_972_320, 500_000_000))
        );
        assert_eq!(
            unix_secs(UNIX_EPOCH + Duration::from_secs(1_649_972_320)),
            1_649_972_320
        );
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_millis(1500)), -2);
    }

    #[test]
    fn impossible_times_are_refused() {
        for bad in [
            "",
            "2022-04-14",
            "2022-04-14 21:38:40Z",
            "2022-04-14T21:38:40",
            "2022-13-14T21:38:40Z",
            "2022-02-30T00:00:00Z",
            "2100-02-29T00:00:00Z",
            "2022-04-14T24:00:00Z",
            "2022-04-14T21:38:60Z",
            "2022-04-14T21:38:40.Z",
            "2022-04-14T21:38:40+2:00",
            "2022-04-14T21:38:40+24:00",
            "２０２2-04-14T21:38:40Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad}");
        }
        assert!(parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
    }

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
    fn impossible_unix_times_are_refused() {
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

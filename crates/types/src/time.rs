//! Points in time, as milliseconds since the Unix epoch (UTC).

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A point in time: milliseconds since 1970-01-01T00:00:00Z.
///
/// Serialises as RFC 3339 with milliseconds (`2024-05-01T10:00:00.000Z`), so API
/// answers are readable; deserialises from that or from integer milliseconds.
/// (User input is decoded by the ingest crate, which reads Unix *seconds*.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(pub i64);

/// In the API a time is an RFC 3339 string (and Unix milliseconds are
/// accepted on input).
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Millis(i64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Millis(ms) => Ok(Timestamp(ms)),
            Raw::Text(s) => Timestamp::parse(&s)
                .ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not an RFC 3339 time"))),
        }
    }
}

impl Timestamp {
    /// The current wall-clock time.
    pub fn now() -> Self {
        Self(Utc::now().timestamp_millis())
    }

    /// From whole seconds since the epoch.
    pub fn from_secs(secs: i64) -> Self {
        Self(secs.saturating_mul(1000))
    }

    /// From (possibly fractional) seconds since the epoch; `None` when not finite
    /// or out of the representable range (years 0..=9999).
    pub fn from_secs_f64(secs: f64) -> Option<Self> {
        if !secs.is_finite() {
            return None;
        }
        let ms = secs * 1000.0;
        let t = Self(ms.round() as i64);
        (ms.abs() < 253_402_300_800_000.0 && t.to_datetime().is_some()).then_some(t)
    }

    /// Parses RFC 3339 (`2024-05-01T12:00:00Z`) or a plain date (`2024-05-01`,
    /// taken as midnight UTC).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Some(Self(dt.timestamp_millis()));
        }
        let d = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        Some(Self(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis()))
    }

    /// Whole seconds since the epoch.
    pub fn secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Seconds since the epoch as a float.
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }

    /// As a UTC date-time, when representable.
    pub fn to_datetime(self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_datetime() {
            Some(dt) => write!(
                f,
                "{}",
                dt.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            ),
            None => write!(f, "{}ms", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rfc3339_dates_and_seconds() {
        assert_eq!(
            Timestamp::parse("1970-01-01T00:00:01Z"),
            Some(Timestamp(1000))
        );
        assert_eq!(Timestamp::parse("1970-01-02"), Some(Timestamp(86_400_000)));
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(Timestamp::from_secs_f64(1.5), Some(Timestamp(1500)));
        assert_eq!(Timestamp::from_secs_f64(f64::NAN), None);
        assert_eq!(Timestamp::from_secs_f64(1e300), None);
        assert_eq!(Timestamp(1500).to_string(), "1970-01-01T00:00:01.500Z");
    }

    #[test]
    fn serde_writes_rfc3339_and_reads_both_forms() {
        let t = Timestamp(1_700_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        assert_eq!(
            serde_json::from_str::<Timestamp>("1700000000123").unwrap(),
            t
        );
        assert!(serde_json::from_str::<Timestamp>("\"soon\"").is_err());
    }
}

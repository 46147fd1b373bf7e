//! Durations as scenario files write them: `500ms`, `30s`, `5m`, `1h30m`, `2d`.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;

/// The valid form of a duration, used in error hints and the JSON Schema.
pub const DURATION_FORM: &str =
    "a number followed by a unit, units ms, s, m, h, d, largest first, e.g. 500ms, 30s, 5m, 1h30m";

/// Regex for the JSON Schema (editors); the parser below is the authority.
pub const DURATION_PATTERN: &str = r"^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?$";

/// A positive duration written `1h30m`, `30s`, `500ms`, ….
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(std::time::Duration);

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
#[non_exhaustive]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }
    pub const fn get(self) -> std::time::Duration {
        self.0
    }

    /// Parse `1h30m`, `30s`, `500ms`, `2d`. Units must appear largest first, each at most
    /// once; the total must be above zero.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let err = |reason| DurationError { input: input.to_string(), reason };
        let s = input.trim();
        if s.is_empty() {
            return Err(err("empty"));
        }
        if s.contains(char::is_whitespace) {
            return Err(err("no spaces allowed"));
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut total: u128 = 0;
        let mut last_rank = usize::MAX;
        while i < bytes.len() {
            let start = i;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i == start {
                return Err(err("expected a number before each unit"));
            }
            let n: u128 = s[start..i].parse().map_err(|_| err("number too large"))?;
            let ustart = i;
            while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
                i += 1;
            }
            let (rank, millis) = match &s[ustart..i] {
                "d" => (4, 86_400_000),
                "h" => (3, 3_600_000),
                "m" => (2, 60_000),
                "s" => (1, 1_000),
                "ms" => (0, 1),
                "" => return Err(err("missing unit (ms, s, m, h or d)")),
                _ => return Err(err("unknown unit (use ms, s, m, h or d)")),
            };
            if rank >= last_rank {
                return Err(err("units must appear once each, largest first"));
            }
            last_rank = rank;
            total = total
                .checked_add(n.checked_mul(millis).ok_or_else(|| err("too large"))?)
                .ok_or_else(|| err("too large"))?;
        }
        if total == 0 {
            return Err(err("must be greater than zero"));
        }
        let ms = u64::try_from(total).map_err(|_| err("too large"))?;
        Ok(Duration(std::time::Duration::from_millis(ms)))
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl fmt::Display for Duration {
    /// Canonical form, largest unit first: `1h30m`, `500ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        for (unit, size) in
            [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)]
        {
            if ms >= size {
                write!(f, "{}{unit}", ms / size)?;
                ms %= size;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Duration {
    type Err = DurationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Duration::parse(s)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Duration::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": format!("A duration: {DURATION_FORM}."),
            "examples": ["30s", "5m", "1h30m", "500ms"],
            "x-acr-chaos-check": "duration",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("30s", 30_000)]
    #[case("5m", 300_000)]
    #[case("1h30m", 5_400_000)]
    #[case("500ms", 500)]
    #[case("1m30s250ms", 90_250)]
    #[case("2d", 172_800_000)]
    fn parses(#[case] input: &str, #[case] ms: u64) {
        let d = Duration::parse(input).unwrap();
        assert_eq!(d.get().as_millis() as u64, ms);
        assert_eq!(Duration::parse(&d.to_string()).unwrap(), d, "display round-trips");
    }

    #[rstest]
    #[case("", "empty")]
    #[case("30", "missing unit")]
    #[case("5 minutes", "no spaces")]
    #[case("5minutes", "unknown unit")]
    #[case("s", "expected a number")]
    #[case("30s5m", "largest first")]
    #[case("0s", "greater than zero")]
    #[case("-5s", "expected a number")]
    #[case("1.5h", "missing unit")]
    #[case("5x", "unknown unit")]
    fn rejects(#[case] input: &str, #[case] why: &str) {
        let e = Duration::parse(input).unwrap_err();
        assert!(e.to_string().contains(why), "{input:?}: {e}");
    }

    #[test]
    fn display_is_canonical() {
        assert_eq!(Duration::from_secs(5400).to_string(), "1h30m");
        assert_eq!(Duration::from_millis(1500).to_string(), "1s500ms");
    }
}

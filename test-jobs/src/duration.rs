//! Durations as people write them in a test plan and the catalogue (`20s`, `5m`, `1h30m`,
//! `500ms`, `2 minutes`), parsed with jiff's friendly format.

use std::time::Duration;

use jiff::fmt::friendly::{Designator, Spacing, SpanParser, SpanPrinter};

static PARSER: SpanParser = SpanParser::new();
static PRINTER: SpanPrinter = SpanPrinter::new()
    .designator(Designator::HumanTime)
    .spacing(Spacing::None);

/// Parses a duration such as `20s`, `5m`, `1h30m` or `500ms`; `Err` says what is accepted.
pub fn parse(text: &str) -> Result<Duration, String> {
    PARSER.parse_unsigned_duration(text).map_err(|_| {
        format!(
            "`{text}` is not a duration; write a number and a unit, e.g. 500ms, 20s, 5m or 1h30m"
        )
    })
}

/// Writes a duration the way [`parse`] reads it, e.g. `1m30s`.
pub fn format(duration: Duration) -> String {
    PRINTER.unsigned_duration_to_string(&duration)
}

/// Writes a duration as whole seconds (`90s`) or, when it is not whole, as milliseconds
/// (`1500ms`): the form every Chorale program and the probe's command line read.
pub fn plain(duration: Duration) -> String {
    if duration.subsec_millis() == 0 {
        format!("{}s", duration.as_secs())
    } else {
        format!("{}ms", duration.as_millis())
    }
}

/// Serde for `Duration` fields as [`format`]ted text.
pub(crate) mod text {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(
        duration: &Duration,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::format(*duration))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{format, parse, plain};

    #[test]
    fn reads_what_people_write_and_writes_it_back() {
        for (text, duration, written) in [
            ("20s", Duration::from_secs(20), "20s"),
            ("5m", Duration::from_mins(5), "5m"),
            ("1h30m", Duration::from_mins(90), "1h30m"),
            ("90s", Duration::from_secs(90), "1m30s"),
            ("500ms", Duration::from_millis(500), "500ms"),
            ("2 minutes", Duration::from_mins(2), "2m"),
        ] {
            assert_eq!(parse(text).unwrap(), duration, "{text}");
            assert_eq!(format(duration), written);
            assert_eq!(parse(&format(duration)).unwrap(), duration);
        }
        assert_eq!(plain(Duration::from_secs(90)), "90s");
        assert_eq!(plain(Duration::from_millis(1500)), "1500ms");
        for bad in ["", "5", "soon", "-5s", "5 parsecs"] {
            assert!(
                parse(bad).unwrap_err().contains("is not a duration"),
                "{bad}"
            );
        }
    }
}

//! The nightly trigger: a product's `spec.schedule` read into a [`Schedule`], its fire times,
//! and which of them start a build. Every fire time of a product is claimed once in the store
//! (the pair product and fire time is a unique key), so however many replicas run, each fire
//! time starts at most one build, and a replica that was down catches up by the rules of
//! Kubernetes' CronJob: the newest fire time still within `startingDeadline` starts, the older
//! ones are recorded as missed.
//!
//! Times are read in the schedule's time zone, and daylight saving time is handled as cron
//! (Vixie) does: a local time that does not exist (spring forward) fires once at the first valid
//! instant after the gap; one that happens twice (fall back) fires once.

pub mod run;

use std::str::FromStr;
use std::time::Duration;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

/// What a fire time does while a build of the product is queued or running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString, strum::Display)]
pub enum ConcurrencyPolicy {
    /// It is recorded as skipped.
    Forbid,
    /// It starts anyway.
    Allow,
    /// The product's builds still queued or running are stopped (recorded `interrupted`, their
    /// clusters torn down by the process running them at its next heartbeat) and it starts.
    Replace,
}

/// The default of `startingDeadline`.
pub const DEFAULT_STARTING_DEADLINE: Duration = Duration::from_hours(1);

/// The most fire times looked at in one catch-up (older ones are not recorded).
const MAX_CATCH_UP: usize = 1000;

/// A checked `spec.schedule`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    /// The cron pattern.
    pub cron: Cron,
    /// Its text, as written.
    pub pattern: String,
    /// The zone it is read in.
    pub time_zone: TimeZone,
    /// The zone's IANA name.
    pub time_zone_name: String,
    /// While a build runs.
    pub concurrency: ConcurrencyPolicy,
    /// How late a fire time may still start.
    pub starting_deadline: Duration,
    /// A build whose lock equals the last green build's ends skipped.
    pub skip_unchanged: bool,
}

/// The environment variable that lets a cron pattern have a sixth, leading seconds field (for
/// tests that need many fire times in a short run).
pub const SECONDS_VARIABLE: &str = "CHORALE_CRON_SECONDS";

/// Parse a cron pattern: five fields, or six with seconds when [`SECONDS_VARIABLE`] is `1`.
pub fn parse_cron(pattern: &str) -> Result<Cron, String> {
    let seconds = if std::env::var(SECONDS_VARIABLE).as_deref() == Ok("1") {
        Seconds::Optional
    } else {
        Seconds::Disallowed
    };
    CronParser::builder()
        .seconds(seconds)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|e| format!("`{pattern}` is not a cron pattern of five fields (minute hour day-of-month month day-of-week): {e}"))
}

/// Read a time zone by its IANA name.
pub fn parse_time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name).map_err(|_| {
        format!("`{name}` is not an IANA time zone; write e.g. `Asia/Shanghai`, `Europe/Berlin` or `UTC`")
    })
}

/// Read a concurrency policy.
pub fn parse_concurrency(text: &str) -> Result<ConcurrencyPolicy, String> {
    ConcurrencyPolicy::from_str(text).map_err(|_| {
        format!("`{text}` is not a concurrency policy; use `Forbid`, `Allow` or `Replace`")
    })
}

impl Schedule {
    /// The fire times after `after` up to and including `until`, oldest first (at most the
    /// newest [`MAX_CATCH_UP`]).
    pub fn fire_times(&self, after: Timestamp, until: Timestamp) -> Vec<Timestamp> {
        let start = after.to_zoned(self.time_zone.clone());
        let mut times: Vec<Timestamp> = Vec::new();
        for zoned in self.cron.iter_after(start) {
            let time = zoned.timestamp();
            if time > until {
                break;
            }
            times.push(time);
            if times.len() > MAX_CATCH_UP {
                times.remove(0);
            }
        }
        times
    }

    /// The next `count` fire times after `after`.
    pub fn next(&self, after: Timestamp, count: usize) -> Vec<Timestamp> {
        self.cron
            .iter_after(after.to_zoned(self.time_zone.clone()))
            .take(count)
            .map(|zoned| zoned.timestamp())
            .collect()
    }

    /// What the fire times after `last` (the newest one recorded) and up to `now` come to:
    /// the newest starts when it is within the starting deadline, every other one is missed.
    pub fn due(&self, last: Timestamp, now: Timestamp) -> Due {
        let mut missed = self.fire_times(last, now);
        let start = match missed.last() {
            Some(newest)
                if now.duration_since(*newest).unsigned_abs() <= self.starting_deadline =>
            {
                missed.pop()
            }
            _ => None,
        };
        Due { start, missed }
    }
}

/// The fire times due at one look.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Due {
    /// The one that starts a build.
    pub start: Option<Timestamp>,
    /// Those recorded as missed, oldest first.
    pub missed: Vec<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(pattern: &str, zone: &str) -> Schedule {
        Schedule {
            cron: parse_cron(pattern).unwrap(),
            pattern: pattern.to_owned(),
            time_zone: parse_time_zone(zone).unwrap(),
            time_zone_name: zone.to_owned(),
            concurrency: ConcurrencyPolicy::Forbid,
            starting_deadline: DEFAULT_STARTING_DEADLINE,
            skip_unchanged: false,
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn a_nightly_cron_fires_at_its_local_time() {
        let nightly = schedule("30 2 * * *", "Asia/Shanghai");
        // 02:30 in Shanghai (UTC+8) is 18:30 UTC the day before.
        assert_eq!(
            nightly.next(at("2026-12-04T12:00:00Z"), 2),
            [at("2026-12-04T18:30:00Z"), at("2026-12-05T18:30:00Z")]
        );
        let weekdays = schedule("0 3 * * mon-fri", "UTC");
        assert_eq!(
            weekdays.next(at("2026-12-04T04:00:00Z"), 1),
            [at("2026-12-07T03:00:00Z")],
            "Friday's has passed: Monday's is next"
        );
    }

    #[test]
    fn a_local_time_that_does_not_exist_fires_once_after_the_gap() {
        // Berlin springs forward on 2027-03-28 from 02:00 to 03:00: 02:30 does not exist.
        let night = schedule("30 2 * * *", "Europe/Berlin");
        let fires = night.fire_times(at("2027-03-27T00:00:00Z"), at("2027-03-30T00:00:00Z"));
        assert_eq!(
            fires,
            [
                at("2027-03-27T01:30:00Z"), // 02:30 CET
                at("2027-03-28T01:00:00Z"), // 03:00 CEST, the first valid instant
                at("2027-03-29T00:30:00Z"), // 02:30 CEST
            ]
        );
    }

    #[test]
    fn a_local_time_that_happens_twice_fires_once() {
        // Berlin falls back on 2027-10-31 from 03:00 to 02:00: 02:30 happens twice.
        let night = schedule("30 2 * * *", "Europe/Berlin");
        let fires = night.fire_times(at("2027-10-30T12:00:00Z"), at("2027-11-01T12:00:00Z"));
        assert_eq!(
            fires,
            [at("2027-10-31T00:30:00Z"), at("2027-11-01T01:30:00Z")],
            "{fires:?}"
        );
    }

    #[test]
    fn a_replica_that_was_down_starts_the_newest_fire_time_in_its_deadline_and_misses_the_rest() {
        let hourly = schedule("0 * * * *", "UTC");
        let due = hourly.due(at("2026-12-04T00:00:00Z"), at("2026-12-04T03:20:00Z"));
        assert_eq!(due.start, Some(at("2026-12-04T03:00:00Z")));
        assert_eq!(
            due.missed,
            [at("2026-12-04T01:00:00Z"), at("2026-12-04T02:00:00Z")]
        );
        let mut strict = hourly.clone();
        strict.starting_deadline = Duration::from_mins(10);
        let due = strict.due(at("2026-12-04T00:00:00Z"), at("2026-12-04T03:20:00Z"));
        assert_eq!(due.start, None, "03:00 is 20 minutes late");
        assert_eq!(due.missed.len(), 3);
        assert_eq!(
            hourly.due(at("2026-12-04T03:00:00Z"), at("2026-12-04T03:20:00Z")),
            Due::default(),
            "nothing new since the last"
        );
    }

    #[test]
    fn bad_patterns_zones_and_policies_say_what_is_right() {
        assert!(parse_cron("30 2 * *").unwrap_err().contains("five fields"));
        assert!(
            parse_cron("0 30 2 * * *").is_err(),
            "no seconds unless asked"
        );
        assert!(parse_cron("61 2 * * *").is_err());
        assert!(
            parse_time_zone("Mars/Olympus")
                .unwrap_err()
                .contains("IANA")
        );
        assert_eq!(parse_concurrency("Allow"), Ok(ConcurrencyPolicy::Allow));
        assert_eq!(parse_concurrency("Replace"), Ok(ConcurrencyPolicy::Replace));
        assert!(parse_concurrency("forbid").unwrap_err().contains("Forbid"));
    }
}

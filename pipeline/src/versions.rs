//! The versions a product's green builds are released as, computed from plain inputs (no I/O):
//! daily `MAJOR.MINOR.YYYYMMDD` (the build's start date in the release time zone),
//! pre-release `MAJOR.MINOR.PATCH-rc.N`, and the final version an rc is promoted to.
//!
//! Versions are ordered by semver precedence everywhere ([`semver::Version`]'s order, whose
//! numeric pre-release identifiers compare as numbers): `2.1.0-rc.9` < `2.1.0-rc.10` <
//! `2.1.0`.

use jiff::Timestamp;
use jiff::tz::TimeZone;
use semver::{Prerelease, Version};

use crate::resources::version_line::VersionLine;

/// The daily version of a build started at `started`: `MAJOR.MINOR.YYYYMMDD`, the date being
/// the one in `zone` at that instant.
pub fn daily(line: VersionLine, started: Timestamp, zone: &TimeZone) -> Version {
    let date = started.to_zoned(zone.clone()).date();
    let day = u64::try_from(date.year()).unwrap_or(0) * 10_000
        + u64::try_from(date.month()).unwrap_or(0) * 100
        + u64::try_from(date.day()).unwrap_or(0);
    Version::new(line.major, line.minor, day)
}

/// The number of the first release candidate of a patch.
const FIRST_RC: u64 = 1;

/// The next release candidate of `MAJOR.MINOR.PATCH`: `-rc.N` with `N` one more than the
/// highest rc of that patch in `taken` (the versions the product's releases hold), `rc.1` when
/// there is none.
pub fn next_rc(line: VersionLine, patch: u64, taken: &[Version]) -> Version {
    let last = taken
        .iter()
        .filter(|v| v.major == line.major && v.minor == line.minor && v.patch == patch)
        .filter_map(rc_number)
        .max();
    let n = last.map_or(FIRST_RC, |n| n + 1);
    let mut version = Version::new(line.major, line.minor, patch);
    version.pre = Prerelease::new(&format!("rc.{n}")).expect("rc.N is a valid pre-release");
    version
}

/// `N` of an `X.Y.Z-rc.N` version; `None` for any other.
pub fn rc_number(version: &Version) -> Option<u64> {
    version.pre.as_str().strip_prefix("rc.")?.parse().ok()
}

/// The final version `X.Y.Z` an `X.Y.Z-rc.N` is promoted to.
pub fn promoted(rc: &Version) -> Result<Version, String> {
    if rc_number(rc).is_none() || !rc.build.is_empty() {
        return Err(format!(
            "`{rc}` is not a release candidate; only MAJOR.MINOR.PATCH-rc.N versions are promoted"
        ));
    }
    Ok(Version::new(rc.major, rc.minor, rc.patch))
}

/// A text whose byte order is `version`'s semver precedence (build metadata ignored), for
/// ordering and paging in SQL: the numbers zero-padded; a pre-release after `-`, each
/// identifier a numeric one (`0` and 20 digits, lower than any alphanumeric) or an
/// alphanumeric one (`1` and its text), joined by `!` (lower than every identifier byte, so a
/// shorter list comes first); a release without pre-release ends with `~`, after every `-`.
pub fn precedence_key(version: &Version) -> String {
    let mut key = format!(
        "{:020}.{:020}.{:020}",
        version.major, version.minor, version.patch
    );
    if version.pre.is_empty() {
        key.push('~');
        return key;
    }
    key.push('-');
    let identifiers: Vec<String> = version
        .pre
        .as_str()
        .split('.')
        .map(|identifier| match identifier.parse::<u64>() {
            Ok(number) => format!("0{number:020}"),
            _ => format!("1{identifier}"),
        })
        .collect();
    key.push_str(&identifiers.join("!"));
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line() -> VersionLine {
        "2.1".parse().unwrap()
    }

    fn versions(texts: &[&str]) -> Vec<Version> {
        texts.iter().map(|t| Version::parse(t).unwrap()).collect()
    }

    #[test]
    fn a_daily_version_is_the_date_where_the_policy_lives() {
        let shanghai = TimeZone::get("Asia/Shanghai").unwrap();
        // 16:00 UTC on the 3rd is already midnight of the 4th in Shanghai (UTC+8, no DST).
        let before = "2026-12-03T15:59:59Z".parse::<Timestamp>().unwrap();
        let after = "2026-12-03T16:00:00Z".parse::<Timestamp>().unwrap();
        assert_eq!(daily(line(), before, &shanghai).to_string(), "2.1.20261203");
        assert_eq!(daily(line(), after, &shanghai).to_string(), "2.1.20261204");
        assert_eq!(
            daily(line(), after, &TimeZone::UTC).to_string(),
            "2.1.20261203"
        );
        // West of UTC the date lags: 02:00 UTC on New Year's Day is still the old year.
        let new_year = "2027-01-01T02:00:00Z".parse::<Timestamp>().unwrap();
        let honolulu = TimeZone::get("Pacific/Honolulu").unwrap();
        assert_eq!(
            daily(line(), new_year, &honolulu).to_string(),
            "2.1.20261231"
        );
    }

    #[test]
    fn release_candidates_count_up_per_patch() {
        assert_eq!(next_rc(line(), 0, &[]).to_string(), "2.1.0-rc.1");
        let taken = versions(&[
            "2.1.0-rc.1",
            "2.1.0-rc.9",
            "2.1.1-rc.4",
            "2.2.0-rc.7",
            "2.1.20261204",
        ]);
        assert_eq!(next_rc(line(), 0, &taken).to_string(), "2.1.0-rc.10");
        assert_eq!(next_rc(line(), 1, &taken).to_string(), "2.1.1-rc.5");
        assert_eq!(next_rc(line(), 2, &taken).to_string(), "2.1.2-rc.1");
    }

    #[test]
    fn promotion_drops_the_rc_and_refuses_anything_else() {
        let rc = Version::parse("2.1.0-rc.3").unwrap();
        assert_eq!(promoted(&rc).unwrap().to_string(), "2.1.0");
        for bad in ["2.1.0", "2.1.0-beta.1", "2.1.0-rc.x", "2.1.0-rc.1.2"] {
            let error = promoted(&Version::parse(bad).unwrap()).unwrap_err();
            assert!(error.contains("not a release candidate"), "{bad}: {error}");
        }
    }

    #[test]
    fn the_precedence_key_sorts_as_semver_does() {
        let mut texts = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-alpha-x",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.1.0-rc.9",
            "2.1.0-rc.10",
            "2.1.0",
            "2.1.20261204",
            "10.0.0",
        ];
        let by_semver = {
            let mut versions = versions(&texts);
            versions.sort();
            versions
        };
        texts.sort_by_key(|t| precedence_key(&Version::parse(t).unwrap()));
        assert_eq!(versions(&texts), by_semver);
    }

    #[test]
    fn precedence_orders_rc_10_after_rc_9_and_the_final_after_both() {
        let mut sorted = versions(&["2.1.0", "2.1.0-rc.10", "2.1.0-rc.9", "2.0.20261204"]);
        sorted.sort();
        let texts: Vec<String> = sorted.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            ["2.0.20261204", "2.1.0-rc.9", "2.1.0-rc.10", "2.1.0"]
        );
    }
}

//! The records people see (through the CLI now, through the API later): plain data types, no
//! I/O. The store keeps them and depends on nothing else of Chorale; the engine and the
//! operations act on them.
//!
//! - [`build::Build`]: one run of the pipeline, with its [`build::StageRun`]s, component
//!   deploys and test runs; the typed [`build::Stage`] and [`build::Status`];
//! - [`lock::Lock`]: every component's exact commit, chart digest and image digests;
//! - [`bundle::BundleOutcome`]: what a bundle push made;
//! - [`cluster::ClusterRecord`]: a test cluster and where it is in its life;
//! - [`delivery::Delivery`]: one notification to one notifier;
//! - [`release::Release`]: a version of a product on a green build's bundle, and its decisions;
//! - [`version_line::VersionLine`]: `MAJOR.MINOR` of a product's versions.

pub mod access;
pub mod build;
pub mod bundle;
pub mod cluster;
pub mod delivery;
pub mod lock;
pub mod meta;
pub mod occurrence;
pub mod product;
pub mod release;
pub mod version_line;

/// The `apiVersion` of every Chorale document.
pub const API_VERSION: &str = "chorale.dev/v1alpha1";

/// The longest name a product or component may have (its Helm release names and the
/// `chorale-BUILD` namespaces stay within Kubernetes' limits).
pub const MAX_NAME: usize = 53;

/// Whether `text` is a DNS label of at most `max` characters: lower-case letters, digits and
/// `-`, starting and ending with a letter or digit. Product, component and token names are.
pub fn is_label(text: &str, max: usize) -> bool {
    !text.is_empty()
        && text.len() <= max
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// A duration as people write it: `90s`, `5m`, `2h`, `1h30m`, `90d` (a day is 24 hours).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let span: jiff::Span = text
        .parse()
        .map_err(|_| format!("`{text}` is not a duration; write e.g. 90s, 5m or 2h"))?;
    let duration = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("`{text}`: {e}"))?;
    std::time::Duration::try_from(duration).map_err(|_| format!("`{text}` is negative"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_durations_read_one_way_everywhere() {
        assert!(is_label("web-2", MAX_NAME));
        for bad in ["", "-web", "web-", "Web", "web_2", &"w".repeat(54)] {
            assert!(!is_label(bad, MAX_NAME), "{bad}");
        }
        assert_eq!(
            parse_duration("90d"),
            Ok(std::time::Duration::from_hours(90 * 24))
        );
        assert_eq!(
            parse_duration("1h30m"),
            Ok(std::time::Duration::from_mins(90))
        );
        assert_eq!(parse_duration("0s"), Ok(std::time::Duration::ZERO));
        assert!(parse_duration("-5m").unwrap_err().contains("negative"));
        assert!(parse_duration("10").unwrap_err().contains("90s, 5m or 2h"));
    }
}

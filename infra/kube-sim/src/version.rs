//! The Kubernetes version a sim cluster claims to be, and the behaviour that depends on it.
//!
//! kube-sim answers as the API server of one version between [`KubernetesVersion::OLDEST`] and
//! [`KubernetesVersion::NEWEST`] (by default [`KubernetesVersion::DEFAULT`], the oldest version
//! Chorale supports). Everything that differs between those versions asks this type.

use std::fmt;
use std::str::FromStr;

use crate::errors::Error;

/// A Kubernetes version `1.MINOR.PATCH` that kube-sim can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubernetesVersion {
    minor: u32,
    patch: u32,
}

impl KubernetesVersion {
    /// The oldest version kube-sim serves.
    pub const OLDEST: Self = Self {
        minor: 25,
        patch: 0,
    };
    /// The newest version kube-sim serves (any patch of it).
    pub const NEWEST: Self = Self {
        minor: 33,
        patch: u32::MAX,
    };
    /// The version served unless another is asked for: 1.25.9, the oldest version Chorale
    /// supports and the one CI's real cluster runs.
    pub const DEFAULT: Self = Self {
        minor: 25,
        patch: 9,
    };

    /// The major version (always 1).
    pub fn major(self) -> u32 {
        1
    }

    /// The minor version.
    pub fn minor(self) -> u32 {
        self.minor
    }

    /// What `/version` reports as `gitVersion`: `v1.25.9+kube-sim`. The `+kube-sim` is semver
    /// build metadata, so version constraints such as a chart's `kubeVersion: ">=1.25.0"` hold
    /// as they would for `v1.25.9`.
    pub fn git_version(self) -> String {
        format!("v1.{}.{}+kube-sim", self.minor, self.patch)
    }

    /// Whether Job pods carry `batch.kubernetes.io/controller-uid` and
    /// `batch.kubernetes.io/job-name` (besides `controller-uid` and `job-name`) and the Job's
    /// generated selector uses `batch.kubernetes.io/controller-uid` (Kubernetes 1.27 and later).
    pub fn has_batch_job_labels(self) -> bool {
        self.minor >= 27
    }

    /// The versions of aggregated discovery (`apidiscovery.k8s.io`) served by default: none
    /// before 1.27 (alpha and off in 1.26), `v2beta1` from 1.27, also `v2` from 1.30, and only
    /// `v2` from 1.33 (where `AggregatedDiscoveryRemoveBetaType` is on).
    pub fn aggregated_discovery(self) -> &'static [&'static str] {
        match self.minor {
            ..=26 => &[],
            27..=29 => &["v2beta1"],
            30..=32 => &["v2", "v2beta1"],
            _ => &["v2"],
        }
    }

    /// Whether the StatefulSet spec has `ordinals` (1.26 and later), which updates may change.
    pub fn has_statefulset_ordinals(self) -> bool {
        self.minor >= 26
    }

    /// Whether a StatefulSet's `persistentVolumeClaimRetentionPolicy` is defaulted (1.27 and
    /// later, where `StatefulSetAutoDeletePVC` is on).
    pub fn defaults_statefulset_claim_retention(self) -> bool {
        self.minor >= 27
    }

    /// Whether a Job's `podReplacementPolicy` is defaulted (1.29 and later, where
    /// `JobPodReplacementPolicy` is on).
    pub fn defaults_job_pod_replacement_policy(self) -> bool {
        self.minor >= 29
    }

    /// Whether a built-in type introduced in minor version `since` is served.
    pub fn serves_since(self, since: u32) -> bool {
        self.minor >= since
    }
}

impl Default for KubernetesVersion {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}.{}", self.minor, self.patch)
    }
}

impl FromStr for KubernetesVersion {
    type Err = Error;

    /// Parses `MAJOR.MINOR[.PATCH]` (a leading `v` is allowed; a missing patch is 0) and
    /// refuses versions kube-sim does not serve.
    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidKubernetesVersion(text.to_owned());
        let numbers: Vec<u32> = text
            .trim()
            .trim_start_matches('v')
            .split('.')
            .map(|part| {
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    None
                } else {
                    part.parse().ok()
                }
            })
            .collect::<Option<_>>()
            .ok_or_else(invalid)?;
        let (major, minor, patch) = match numbers.as_slice() {
            [major, minor] => (*major, *minor, 0),
            [major, minor, patch] => (*major, *minor, *patch),
            _ => return Err(invalid()),
        };
        let version = Self { minor, patch };
        if major != 1 || version < Self::OLDEST || version > Self::NEWEST {
            return Err(Error::UnsupportedKubernetesVersion {
                given: text.to_owned(),
                oldest: Self::OLDEST.minor,
                newest: Self::NEWEST.minor,
            });
        }
        Ok(version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_with_or_without_a_patch_and_inside_the_range_only() {
        let parse = |text: &str| text.parse::<KubernetesVersion>();
        assert_eq!(parse("1.25.9").expect("valid"), KubernetesVersion::DEFAULT);
        assert_eq!(parse("v1.30").expect("valid").to_string(), "1.30.0");
        assert_eq!(parse("1.33.4").expect("valid").minor(), 33);
        for text in ["1.24.3", "1.34", "2.25", "0.25.1"] {
            let error = parse(text).expect_err(text).to_string();
            assert!(
                error.contains("serves Kubernetes 1.25 to 1.33"),
                "{text}: {error}"
            );
        }
        for text in ["", "1", "1.x", "1.25.9.1", "1.25-rc.1", "1..25"] {
            let error = parse(text).expect_err(text).to_string();
            assert!(error.contains("MAJOR.MINOR[.PATCH]"), "{text}: {error}");
        }
    }

    #[test]
    fn behaviour_follows_the_version() {
        let at = |text: &str| text.parse::<KubernetesVersion>().expect("valid");
        assert_eq!(at("1.25.9").git_version(), "v1.25.9+kube-sim");
        assert!(!at("1.26").has_batch_job_labels());
        assert!(at("1.27").has_batch_job_labels());
        assert!(at("1.26").aggregated_discovery().is_empty());
        assert_eq!(at("1.27").aggregated_discovery(), ["v2beta1"]);
        assert_eq!(at("1.30").aggregated_discovery(), ["v2", "v2beta1"]);
        assert_eq!(at("1.33").aggregated_discovery(), ["v2"]);
    }
}

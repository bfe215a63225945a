//! The build context a Job template is rendered with: what the build deploys and where.

use serde::{Deserialize, Serialize};

/// Everything about a build that a test Job may need. The pipeline fills it from the build,
/// its lock and its cluster; [`BuildContext::sample`] fills it with placeholders for checking
/// templates before any build exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildContext {
    /// The product's name.
    pub product: String,
    /// The build id (also the value of the `dev.chorale/build` label, so at most 63
    /// characters of letters, digits, `-`, `_` and `.`).
    pub build: String,
    /// The candidate version the build would publish, e.g. `1.0.20261123`.
    pub version: String,
    /// The namespace the product is deployed in; the test objects are created there.
    pub namespace: String,
    /// The probe image, pinned by digest: the built-in Jobs and the collector run it.
    pub probe: PinnedImage,
    /// Every locked component, in lock order.
    pub components: Vec<ComponentContext>,
}

/// An image pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PinnedImage {
    /// `host[:port]/path`, without tag or digest.
    pub repository: String,
    /// `sha256:…`.
    pub digest: String,
}

impl PinnedImage {
    /// `repository@digest`, what a container's `image` field takes.
    pub fn reference(&self) -> String {
        format!("{}@{}", self.repository, self.digest)
    }
}

/// One locked component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComponentContext {
    /// The component's name (its Helm release name).
    pub name: String,
    /// Its chart, pinned.
    pub chart: ChartContext,
    /// Its images, pinned.
    pub images: Vec<ImageContext>,
}

impl ComponentContext {
    /// A component as the manifest describes it, before a snapshot pinned it: the chart is
    /// named after the component, versions and digests are placeholders. For checking
    /// templates with [`BuildContext::sample`].
    pub fn unpinned<'a>(name: &str, images: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self {
            name: name.to_owned(),
            chart: ChartContext {
                name: name.to_owned(),
                version: "0.0.0".to_owned(),
                digest: PLACEHOLDER_DIGEST.to_owned(),
            },
            images: images
                .into_iter()
                .map(|(reference, values)| ImageContext {
                    reference: reference.to_owned(),
                    repository: repository(reference).to_owned(),
                    digest: PLACEHOLDER_DIGEST.to_owned(),
                    values: values.to_owned(),
                })
                .collect(),
        }
    }
}

/// A chart, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartContext {
    /// `name` of Chart.yaml.
    pub name: String,
    /// The locked version.
    pub version: String,
    /// The chart's digest.
    pub digest: String,
}

/// An image of a component, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageContext {
    /// The reference as the manifest names it (tag or digest).
    pub reference: String,
    /// `host[:port]/path`, without tag or digest.
    pub repository: String,
    /// The digest it resolved to.
    pub digest: String,
    /// The values prefix that receives it, e.g. `image`.
    pub values: String,
}

/// The digest placeholders carry.
const PLACEHOLDER_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";

impl BuildContext {
    /// A context with placeholder build id, version, namespace and digests, for checking that
    /// templates render before a build exists.
    pub fn sample(product: &str, components: Vec<ComponentContext>) -> Self {
        Self {
            product: product.to_owned(),
            build: "validation".to_owned(),
            version: "0.0.0-validation".to_owned(),
            namespace: "chorale-validation".to_owned(),
            probe: PinnedImage {
                repository: "registry.invalid/chorale/probe".to_owned(),
                digest: PLACEHOLDER_DIGEST.to_owned(),
            },
            components,
        }
    }

    /// The component names, in context order.
    pub(crate) fn component_names(&self) -> Vec<String> {
        self.components
            .iter()
            .map(|component| component.name.clone())
            .collect()
    }

    /// Checks the values that end up in names and labels.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !is_label_value(&self.build) {
            return Err(format!(
                "the build id `{}` is not a Kubernetes label value (at most 63 letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit)",
                self.build
            ));
        }
        if !is_dns_label(&self.namespace, 63) {
            return Err(format!(
                "the namespace `{}` is not a DNS label",
                self.namespace
            ));
        }
        if self.probe.repository.is_empty() || !self.probe.digest.contains(':') {
            return Err(format!(
                "the probe image `{}` is not pinned by digest (repository@sha256:…)",
                self.probe.reference()
            ));
        }
        Ok(())
    }
}

/// `host/path` of a reference without its tag or digest.
fn repository(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or_default();
    match without_digest.rfind(':') {
        Some(colon) if colon > without_digest.rfind('/').unwrap_or(0) => &without_digest[..colon],
        _ => without_digest,
    }
}

/// A DNS-1123 label of at most `limit` characters.
pub(crate) fn is_dns_label(text: &str, limit: usize) -> bool {
    !text.is_empty()
        && text.len() <= limit
        && text
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !text.starts_with('-')
        && !text.ends_with('-')
}

/// A Kubernetes label value.
fn is_label_value(text: &str) -> bool {
    text.len() <= 63
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && text
            .bytes()
            .next()
            .is_none_or(|b| b.is_ascii_alphanumeric())
        && text
            .bytes()
            .last()
            .is_none_or(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::{BuildContext, ComponentContext, repository};

    #[test]
    fn strips_tags_and_digests_but_not_ports() {
        assert_eq!(
            repository("127.0.0.1:5000/demo/db:main"),
            "127.0.0.1:5000/demo/db"
        );
        assert_eq!(
            repository("127.0.0.1:5000/demo/db"),
            "127.0.0.1:5000/demo/db"
        );
        assert_eq!(
            repository("registry/demo/db:1@sha256:abc"),
            "registry/demo/db"
        );
    }

    #[test]
    fn a_sample_is_valid_and_bad_values_are_explained() {
        let sample = BuildContext::sample(
            "demo",
            vec![ComponentContext::unpinned(
                "db",
                [("127.0.0.1:5000/demo/db:main", "image")],
            )],
        );
        assert_eq!(sample.check(), Ok(()));
        assert_eq!(sample.component_names(), ["db"]);
        let mut bad = sample.clone();
        bad.build = "build #1".to_owned();
        assert!(
            bad.check()
                .unwrap_err()
                .contains("not a Kubernetes label value")
        );
        let mut bad = sample.clone();
        bad.namespace = "Demo".to_owned();
        assert!(bad.check().unwrap_err().contains("not a DNS label"));
        let mut bad = sample;
        bad.probe.digest = "latest".to_owned();
        assert!(bad.check().unwrap_err().contains("not pinned by digest"));
    }
}

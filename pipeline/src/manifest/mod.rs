//! Product manifests: the documents users write ([`document`]), loading them with every
//! component file they name ([`load`]), and the checked model the rest of Chorale uses.
//!
//! Loading never stops at the first problem: it returns every error it finds, each naming
//! `file:line:col` and what would be right.

pub mod document;
mod graph;
mod load;
mod release;
mod reporting;
pub mod schema;

use std::path::PathBuf;

pub use load::load_product;

pub use crate::resources::version_line::VersionLine;

/// A checked product: every field valid, names unique, dependencies acyclic.
#[derive(Debug, Clone, PartialEq)]
pub struct Product {
    /// `metadata.name`.
    pub name: String,
    /// `spec.versionLine`.
    pub version_line: VersionLine,
    /// The components in manifest order.
    pub components: Vec<Component>,
    /// The checked test plan, in plan order.
    pub tests: Vec<chorale_test_jobs::PlannedTest>,
    /// The probe image in-cluster test jobs run.
    pub test_image: Option<String>,
    /// The product file it was loaded from.
    pub file: PathBuf,
    /// How its builds are reported and who is told.
    pub reporting: Reporting,
    /// `spec.cluster.provider`: who makes its builds' clusters, unless the run says.
    pub cluster_provider: Option<chorale_runners::cluster::ProviderKind>,
    /// `spec.schedule`: when the service builds it by itself.
    pub schedule: Option<crate::scheduler::Schedule>,
    /// `spec.release`: how its green builds become versions; `None`: they do not.
    pub release: Option<ReleasePolicy>,
}

impl Product {
    /// The daily version of a build of this product started at `started`: its date in the
    /// release time zone (UTC for a product without `spec.release`).
    pub fn daily_version(&self, started: jiff::Timestamp) -> semver::Version {
        match &self.release {
            Some(policy) => crate::versions::daily(self.version_line, started, &policy.time_zone),
            None => crate::versions::daily(self.version_line, started, &jiff::tz::TimeZone::UTC),
        }
    }
}

/// A product's checked `spec.release`, defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasePolicy {
    /// Who approves a candidate.
    pub policy: crate::resources::release::ApprovalPolicy,
    /// The shape of the versions.
    pub channel: crate::resources::release::ReleaseChannel,
    /// The patch of pre-release versions.
    pub patch: u64,
    /// The zone whose date a daily version carries.
    pub time_zone: jiff::tz::TimeZone,
    /// Distinct approvals a candidate needs (at least 1).
    pub approvals: u32,
    /// How long a candidate may be approved.
    pub approval_expires: std::time::Duration,
    /// Where approved versions are published.
    pub publish: Publish,
}

/// `spec.release.publish`, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Publish {
    /// `host[:port]/path` of the repository the version tags go to.
    pub registry: Option<String>,
    /// The repository that gets an annotated tag, and the tag's prefix.
    pub git: Option<GitTagTarget>,
    /// The GitHub repository that gets a release.
    pub github: Option<GithubTarget>,
}

/// Where a version's git tag goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitTagTarget {
    /// The product configuration's repository URL.
    pub repository: String,
    /// What the tag name starts with, e.g. `v`.
    pub tag_prefix: String,
}

/// Where a version's GitHub release goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubTarget {
    /// `OWNER/NAME`.
    pub repository: String,
    /// The REST API's root.
    pub api_url: url::Url,
    /// Where the token is (a file path made relative to the product file's folder).
    pub token: chorale_reports::notify::SecretRef,
}

/// How a product's builds are reported and announced: `spec.reportTemplates`,
/// `spec.notifications` and `spec.notificationRetry`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reporting {
    /// The folder of template overrides (absolute), when the product has one.
    pub templates: Option<PathBuf>,
    /// The notifiers, with file paths made relative to the product file's folder.
    pub notifications: Vec<chorale_reports::NotifierConfig>,
    /// How failed notifications are retried.
    pub retry: chorale_reports::RetryPolicy,
}

impl Reporting {
    /// The templates reports and e-mails are rendered with: the built-in ones with this
    /// product's overrides in place.
    pub fn templates(&self) -> Result<chorale_reports::Templates, chorale_reports::RenderError> {
        match &self.templates {
            Some(dir) => chorale_reports::Templates::with_overrides(dir),
            None => Ok(chorale_reports::Templates::builtin()),
        }
    }
}

/// One component of a product.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Its name, also its Helm release name.
    pub name: String,
    /// Where its chart comes from.
    pub chart: ChartSource,
    /// The images it uses.
    pub images: Vec<ImageSpec>,
    /// Components deployed before it.
    pub depends_on: Vec<String>,
    /// Default values for the chart.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// Where it is defined.
    pub origin: Origin,
}

/// Where a component's chart comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ChartSource {
    /// A folder of a git repository at a ref.
    Git {
        /// The remote: a URL, or an absolute path.
        repository: String,
        /// Branch, tag, ref name or commit id.
        reference: String,
        /// The chart folder inside the repository (`.` for the root).
        chart_path: String,
    },
    /// A chart in an OCI registry.
    Oci {
        /// `host[:port]/path/name` (the `oci://` prefix removed).
        repository: String,
        /// The accepted versions; the highest match wins.
        range: semver::VersionReq,
    },
}

/// An image reference and the values prefix that receives its pinned digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The reference as written (tag or digest).
    pub reference: String,
    /// Dotted values path, e.g. `image` or `sidecar.image`.
    pub values: String,
}

/// A place in a manifest file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

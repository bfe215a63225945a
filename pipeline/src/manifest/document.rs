//! The manifest documents exactly as users write them (`kind: Product`, `kind: Component`).
//!
//! Every value that validation may complain about is [`Spanned`], so errors can name
//! `file:line:col`. Unknown fields are rejected. The JSON schema in
//! `product-manifests/schema/` is generated from these types (`chorale schema`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// The API version every Chorale document carries.
pub use crate::resources::API_VERSION;
use crate::resources::release::{ApprovalPolicy, ReleaseChannel};

/// A `kind: Product` document: a version line and the components it is assembled from.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "Product",
    description = "A product assembled from Helm-chart components."
)]
pub struct ProductDocument {
    /// Always `chorale.dev/v1alpha1`.
    #[schemars(with = "String")]
    pub api_version: Spanned<String>,
    /// Always `Product`.
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// The product's name.
    pub metadata: Metadata,
    /// What the product is made of.
    pub spec: ProductSpec,
}

/// `metadata` of any document.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// A DNS label: lower-case letters, digits and `-`, at most 53 characters.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `spec` of a Product.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProductSpec {
    /// `MAJOR.MINOR` of the versions this product publishes (daily builds are
    /// `MAJOR.MINOR.YYYYMMDD`).
    #[schemars(with = "String", regex(pattern = r"^\d+\.\d+$"))]
    pub version_line: Spanned<String>,
    /// The components, inline or by `file:`.
    pub components: Vec<ComponentEntry>,
    /// The tests every build runs after the deploy (see docs/test-jobs.md).
    #[serde(default)]
    pub test_plan: Vec<chorale_test_jobs::TestPlanEntry>,
    /// The image of Chorale's probe (`infra/images/build` pushes it as `chorale/probe`) that
    /// in-cluster test jobs run, pinned by digest at snapshot time; required when the test
    /// plan has in-cluster jobs.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub test_image: Option<Spanned<String>>,
    /// A folder of report template overrides, relative to this file: `report.md.j2`,
    /// `report.html.j2`, `email.html.j2`, `email.txt.j2` (see reports/templates/README.md);
    /// a template missing there stays built-in.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub report_templates: Option<Spanned<String>>,
    /// Who is told when a build ends: chat channels and e-mail, each with the events it wants
    /// and its secrets named by `{ env: VARIABLE }` or `{ file: PATH }` (relative to this
    /// file); see docs/notifications.md.
    #[schemars(with = "Vec<chorale_reports::NotifierConfig>")]
    #[serde(default)]
    pub notifications: Vec<Spanned<chorale_reports::NotifierConfig>>,
    /// How a failed notification is retried (default: 5 attempts, from 1 s doubling up to
    /// 60 s with jitter, `Retry-After` honoured up to 5 min).
    #[schemars(with = "Option<chorale_reports::RetryPolicy>")]
    #[serde(default)]
    pub notification_retry: Option<Spanned<chorale_reports::RetryPolicy>>,
    /// The test cluster each build gets (`chorale run --cluster` overrides the provider).
    #[serde(default)]
    pub cluster: Option<ClusterProfile>,
    /// When `chorale serve` builds the product by itself (see docs/service.md).
    #[serde(default)]
    pub schedule: Option<ScheduleSpec>,
    /// How green builds become versions: approval, version shape, where they are published
    /// (see docs/manifests.md#releases).
    #[serde(default)]
    pub release: Option<ReleaseSpec>,
}

/// `spec.release`: how the product's green builds become semantic versions.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleaseSpec {
    /// `manual` (default): a green build is a candidate until release managers approve it;
    /// `auto`: every green build is approved at once.
    #[serde(default)]
    pub policy: ApprovalPolicy,
    /// `daily` (default): versions `MAJOR.MINOR.YYYYMMDD`; `prerelease`:
    /// `MAJOR.MINOR.PATCH-rc.N`.
    #[serde(default)]
    pub channel: ReleaseChannel,
    /// The patch of pre-release versions (default 0); only with `channel: prerelease`.
    #[schemars(with = "Option<u64>")]
    #[serde(default)]
    pub patch: Option<Spanned<u64>>,
    /// The IANA time zone whose date a daily version carries (default: the schedule's, else
    /// UTC).
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub time_zone: Option<Spanned<String>>,
    /// How many distinct release managers must approve a candidate (at least 1; default 1).
    #[schemars(with = "Option<u32>")]
    #[serde(default)]
    pub approvals: Option<Spanned<u32>>,
    /// How long a candidate may be approved (default `72h`).
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub approval_expires: Option<Spanned<String>>,
    /// Where an approved version is published.
    #[serde(default)]
    pub publish: Option<PublishSpec>,
}

/// `spec.release.publish`: where a version goes.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PublishSpec {
    /// `host[:port]/path` of the repository the version tags go to.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub registry: Option<Spanned<String>>,
    /// An annotated tag on the product configuration's commit.
    #[serde(default)]
    pub git: Option<GitPublishSpec>,
    /// A GitHub release for that tag.
    #[serde(default)]
    pub github: Option<GithubPublishSpec>,
}

/// `spec.release.publish.git`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitPublishSpec {
    /// The product configuration's repository: `git://`, `https://`, `http://`, `ssh://` or
    /// `file://`.
    #[schemars(with = "String")]
    pub repository: Spanned<String>,
    /// What the tag name starts with, before the version (default `v`).
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub tag_prefix: Option<Spanned<String>>,
}

/// `spec.release.publish.github`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GithubPublishSpec {
    /// `OWNER/NAME`.
    #[schemars(with = "String")]
    pub repository: Spanned<String>,
    /// The REST API's root (default `https://api.github.com`).
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub api_url: Option<Spanned<String>>,
    /// Where the token is: `{ env: VARIABLE }` or `{ file: PATH }` (relative to this file).
    pub token: chorale_reports::notify::SecretRef,
}

/// `spec.schedule`: when the service builds the product by itself.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ScheduleSpec {
    /// Five fields as in crontab(5): minute, hour, day of month, month, day of week; names
    /// (`mon`, `jan`), ranges, lists and steps allowed.
    #[schemars(with = "String")]
    pub cron: Spanned<String>,
    /// The IANA time zone the cron is read in, e.g. `Asia/Shanghai`; required.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub time_zone: Option<Spanned<String>>,
    /// `Forbid` (default): a fire time while a build of the product is queued or running is
    /// recorded as skipped; `Allow`: it starts anyway.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub concurrency_policy: Option<Spanned<String>>,
    /// How late a fire time may still start (default `1h`); older ones are recorded as missed.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub starting_deadline: Option<Spanned<String>>,
    /// When a scheduled build's lock equals the last green build's, end it `skipped` at once:
    /// no bundle, no cluster (default false).
    #[serde(default)]
    pub skip_unchanged: bool,
}

/// `spec.cluster`: the product's cluster profile.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClusterProfile {
    /// Who makes the build's cluster: `sim` (kube-sim), `kind`, `k3d`, `existing` (a fresh
    /// namespace of an existing cluster), `vcluster` or `command` (see docs/cli.md).
    #[schemars(with = "String")]
    pub provider: Spanned<String>,
}

/// One entry of `spec.components`: either `file:` (a `kind: Component` document, path relative
/// to the product file) or an inline component with a `name`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComponentEntry {
    /// Path of a `kind: Component` document, relative to this file. Excludes every other field.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub file: Option<Spanned<String>>,
    /// The component's name (a DNS label; also its Helm release name).
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub name: Option<Spanned<String>>,
    /// A chart in a folder of a git repository.
    #[serde(default)]
    pub source: Option<GitSource>,
    /// A chart in an OCI registry.
    #[serde(default)]
    pub chart: Option<OciChart>,
    /// The images the chart uses, pinned by digest at snapshot time.
    #[serde(default)]
    pub images: Vec<ImageEntry>,
    /// Components that must be deployed before this one.
    #[schemars(with = "Vec<String>")]
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    /// Default values given to the chart (image pins are written over them).
    #[serde(default)]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A `kind: Component` document.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "Component",
    description = "A Helm-chart component of a product."
)]
pub struct ComponentDocument {
    /// Always `chorale.dev/v1alpha1`.
    #[schemars(with = "String")]
    pub api_version: Spanned<String>,
    /// Always `Component`.
    #[schemars(with = "String")]
    pub kind: Spanned<String>,
    /// The component's name.
    pub metadata: Metadata,
    /// Where its chart and images come from.
    pub spec: ComponentSpec,
}

/// `spec` of a Component document: the fields of an inline entry without `name` and `file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ComponentSpec {
    /// A chart in a folder of a git repository.
    #[serde(default)]
    pub source: Option<GitSource>,
    /// A chart in an OCI registry.
    #[serde(default)]
    pub chart: Option<OciChart>,
    /// The images the chart uses, pinned by digest at snapshot time.
    #[serde(default)]
    pub images: Vec<ImageEntry>,
    /// Components that must be deployed before this one.
    #[schemars(with = "Vec<String>")]
    #[serde(default)]
    pub depends_on: Vec<Spanned<String>>,
    /// Default values given to the chart (image pins are written over them).
    #[serde(default)]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `source:` a chart folder in a git repository at a ref.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GitSource {
    /// `git://…`, `https://…` (token from `CHORALE_GIT_TOKEN[_<HOST>]`), `file://…` or a path
    /// (relative to the manifest file).
    #[schemars(with = "String")]
    pub git: Spanned<String>,
    /// A branch, a tag, a full ref name or a 40-hex commit id.
    #[serde(rename = "ref")]
    #[schemars(with = "String")]
    pub reference: Spanned<String>,
    /// The chart's folder inside the repository (default: the repository root).
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub chart_path: Option<Spanned<String>>,
}

/// `chart:` a Helm chart in an OCI registry.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OciChart {
    /// `oci://host[:port]/path/name`.
    #[schemars(with = "String")]
    pub oci: Spanned<String>,
    /// A semver version or range (`1.2.3`, `^1.0`, `>=1.2, <2`); the highest match wins.
    #[schemars(with = "String")]
    pub version: Spanned<String>,
}

/// One image a chart uses.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageEntry {
    /// `host[:port]/path[:tag][@digest]`; a tag is resolved to a digest at snapshot time.
    #[serde(rename = "ref")]
    #[schemars(with = "String")]
    pub reference: Spanned<String>,
    /// The values prefix that receives `repository` and `digest` (default `image`), e.g.
    /// `image` or `sidecar.image`.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub values: Option<Spanned<String>>,
}

impl From<ComponentSpec> for ComponentEntry {
    fn from(spec: ComponentSpec) -> Self {
        Self {
            file: None,
            name: None,
            source: spec.source,
            chart: spec.chart,
            images: spec.images,
            depends_on: spec.depends_on,
            values: spec.values,
        }
    }
}

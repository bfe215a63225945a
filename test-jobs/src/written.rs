//! The test plan exactly as users write it under a Product's `spec.testPlan`.
//!
//! Every value that checking may complain about is [`Spanned`], so each [`Problem`] can name
//! `file:line:col`. Unknown fields are rejected. `with:` is kept as a located [`Node`] tree
//! because its shape depends on the catalogue entry the test `uses`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::{Location, Spanned};

use crate::node::Node;

/// One test of `spec.testPlan`.
///
/// ```yaml
/// testPlan:
///   - name: ready
///     uses: workloads-ready
///     gate: blocking
///     timeout: 5m
///     retries: 1
///     with: { settle: 20s }
/// ```
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "TestPlanEntry",
    description = "A test of the product's test plan: a catalogue entry with its gate, timeout, retries and parameters.",
    transform = crate::schema::parameters_per_entry
)]
pub struct TestPlanEntry {
    /// The test's name: unique in the plan, a DNS label of at most 53 characters.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// The catalogue entry: `workloads-ready`, `helm-test`, `http-probe`, `pod-restart` or
    /// `job`.
    #[schemars(with = "String")]
    pub uses: Spanned<String>,
    /// `blocking` (the default): a failure fails the build; `informing`: reported only.
    #[serde(default)]
    pub gate: Gate,
    /// How long the test may take, retries included, e.g. `90s`, `5m`, `1h`; default from
    /// the catalogue entry.
    #[schemars(with = "Option<String>")]
    #[serde(default)]
    pub timeout: Option<Spanned<String>>,
    /// How many times a failed run is retried (0 to 10); default from the catalogue entry.
    #[schemars(with = "Option<u32>", range(max = 10))]
    #[serde(default)]
    pub retries: Option<Spanned<u32>>,
    /// The entry's parameters (see docs/test-jobs.md).
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    #[serde(default, rename = "with")]
    pub with: Option<Spanned<Node>>,
}

/// Whether a failing test fails the build.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Gate {
    /// A failure fails the build (and blocks its release).
    #[default]
    Blocking,
    /// A failure is reported but does not fail the build.
    Informing,
}

impl Gate {
    /// `blocking` or `informing`, as written in a plan.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Blocking => "blocking",
            Self::Informing => "informing",
        }
    }
}

impl std::str::FromStr for Gate {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        [Self::Blocking, Self::Informing]
            .into_iter()
            .find(|g| g.as_str() == text)
            .ok_or_else(|| format!("unknown gate `{text}`"))
    }
}

/// Something wrong in a test plan: where, and what would be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The place in the product file (line and column are 1-based; unknown is 0).
    pub location: Location,
    /// What is wrong and what would be right, e.g. "unknown test job `smoke`; the catalogue
    /// has workloads-ready, …".
    pub message: String,
}

//! `chorale-test-jobs`: the built-in test job catalogue, the test plan a product names its
//! tests with, and the rendering of the Kubernetes objects of in-cluster tests.
//!
//! - [`TestPlanEntry`]: one test of a Product's `spec.testPlan`, as written (serde + schemars,
//!   located values); [`check_plan`] turns a plan into [`PlannedTest`]s or every [`Problem`].
//! - [`Catalogue`]: the entries a plan `uses` (data files under `test-jobs/catalogue/`):
//!   `workloads-ready`, `helm-test` and `pod-restart`, which Chorale performs through the
//!   Kubernetes API, and `http-probe` and `job`, which run in the cluster as Jobs.
//! - [`PlannedTest::render`]: an in-cluster test's Job, with its results volume and collector
//!   container, for a [`BuildContext`].
//! - [`results`]: the results protocol: the JUnit files a Job's containers write to
//!   `/chorale/results`, read back from the collector container's log, or the Job's exit
//!   status.
//!
//! See docs/test-jobs.md for the manifest syntax and what the pipeline does for each entry.

mod catalogue;
mod check;
mod context;
pub mod duration;
mod errors;
mod node;
mod parameters;
mod reference;
mod render;
pub mod results;
mod schema;
mod written;

pub use catalogue::{Catalogue, Entry, Parameter, Runs, Template, TemplateSource};
pub use check::{Action, JobTest, MAX_NAME_LENGTH, MAX_RETRIES, PlannedTest, check_plan};
pub use context::{BuildContext, ChartContext, ComponentContext, ImageContext, PinnedImage};
pub use errors::Error;
pub use node::Node;
pub use parameters::ParameterType;
pub use render::JobObjects;
pub use written::{Gate, Problem, TestPlanEntry};

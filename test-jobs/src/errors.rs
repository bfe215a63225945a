//! The crate's errors. Problems in a product's test plan are not errors of this kind: they are
//! [`Problem`](crate::Problem)s, all returned at once with their locations.

/// Everything that can go wrong loading the catalogue, rendering a test's Kubernetes objects
/// or reading its results.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A catalogue file is malformed (the built-in catalogue is checked by the crate's tests).
    #[error("the catalogue entry {file} is invalid: {reason}")]
    Catalogue {
        /// The catalogue file, e.g. `http-probe.yaml`.
        file: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A test Chorale performs itself has no Job to render.
    #[error(
        "test `{test}` uses `{uses}`, which Chorale performs through the Kubernetes API; only in-cluster tests have a Job to render"
    )]
    NotInCluster {
        /// The test's name.
        test: String,
        /// The catalogue entry it uses.
        uses: String,
    },

    /// The Job template failed to render (an undefined value, a syntax error, a failing filter).
    #[error("the Job template {template} of test `{test}` does not render: {detail}")]
    Template {
        /// The test's name.
        test: String,
        /// The template's name: a built-in template or the product's file.
        template: String,
        /// minijinja's description, with the template line.
        detail: String,
    },

    /// The rendered Job template is not one YAML document.
    #[error(
        "the Job template {template} of test `{test}` does not render to YAML: {detail}; check the indentation of the lines that print values, or print them with `| tojson`"
    )]
    NotYaml {
        /// The test's name.
        test: String,
        /// The template's name.
        template: String,
        /// The YAML parser's description.
        detail: String,
    },

    /// The rendered document is not a Job Chorale can run.
    #[error("the Job template {template} of test `{test}` renders an invalid Job: {reason}")]
    InvalidJob {
        /// The test's name.
        test: String,
        /// The template's name.
        template: String,
        /// What is wrong, and what would be right.
        reason: String,
    },

    /// A value of the build context cannot be used in Kubernetes objects.
    #[error("the build context is invalid: {reason}")]
    InvalidContext {
        /// Which value, and why.
        reason: String,
    },

    /// A collector Pod's log is not in the results format.
    #[error("{0}; collect the results again or keep the Job's own exit status")]
    CollectorLog(String),
}

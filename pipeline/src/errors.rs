//! Errors of the pipeline, and the exit codes the binary maps them to.

use std::path::PathBuf;

use chorale_runners::{ClusterError, GitError, HelmError, KubeError, RegistryError};

/// Process exit codes of `chorale` (documented in docs/cli.md; keep them in this one place).
pub mod exit {
    /// Everything succeeded.
    pub const SUCCESS: i32 = 0;
    /// An unexpected internal error.
    pub const FAILURE: i32 = 1;
    /// The command line was wrong (clap's own code).
    pub const USAGE: i32 = 2;
    /// The input was wrong: an invalid manifest, an unknown build or lock.
    pub const INVALID_INPUT: i32 = 3;
    /// The product's tests failed (the pipeline itself worked).
    pub const TESTS_FAILED: i32 = 4;
    /// Something outside Chorale failed: a git remote, a registry, a cluster, the database.
    pub const INFRASTRUCTURE: i32 = 5;
    /// Stopped by SIGINT or SIGTERM (128 + SIGINT, as shells report it); the cluster was
    /// torn down and the build recorded as interrupted.
    pub const INTERRUPTED: i32 = 130;
}

/// One located problem in a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// What is wrong and what would be right.
    pub message: String,
}

impl std::fmt::Display for ManifestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file.display(),
            self.line,
            self.column,
            self.message
        )
    }
}

/// Every problem found in a product manifest and its component files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestErrors(pub Vec<ManifestError>);

impl std::fmt::Display for ManifestErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ManifestErrors {}

/// Why one component could not be resolved.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ComponentError {
    /// Its git source failed.
    #[error("component `{component}`: {source}")]
    Git {
        /// The component.
        component: String,
        /// What git reported.
        source: GitError,
    },
    /// Its chart or an image could not be resolved in a registry.
    #[error("component `{component}`: {source}")]
    Registry {
        /// The component.
        component: String,
        /// What the registry reported.
        source: RegistryError,
    },
    /// Its chart is not a valid Helm chart.
    #[error("component `{component}`: chart {location}: {message}")]
    Chart {
        /// The component.
        component: String,
        /// Where the chart came from.
        location: String,
        /// What is wrong with it.
        message: String,
    },
    /// The probe image of the test jobs could not be resolved.
    #[error("testImage: {source}")]
    TestImage {
        /// What the registry reported.
        source: RegistryError,
    },
    /// No published chart version matches the range.
    #[error(
        "component `{component}`: no version of oci://{repository} matches `{range}` (it has: {})",
        if available.is_empty() { "no versions".to_owned() } else { available.join(", ") }
    )]
    NoMatchingVersion {
        /// The component.
        component: String,
        /// The chart repository.
        repository: String,
        /// The range asked for.
        range: String,
        /// Versions the repository does have.
        available: Vec<String>,
    },
}

impl ComponentError {
    /// Whether the failure lies outside Chorale and the user's input (unreachable systems).
    pub fn is_infrastructure(&self) -> bool {
        match self {
            Self::Git { source, .. } => matches!(source, GitError::Unreachable { .. }),
            Self::Registry { source, .. } | Self::TestImage { source } => matches!(
                source,
                RegistryError::Unreachable { .. } | RegistryError::Server { .. }
            ),
            Self::Chart { .. } | Self::NoMatchingVersion { .. } => false,
        }
    }
}

/// Every component that could not be resolved in a snapshot.
#[derive(Debug)]
pub struct SnapshotErrors(pub Vec<ComponentError>);

impl std::fmt::Display for SnapshotErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for SnapshotErrors {}

/// What failed in the state store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or migrated.
    #[error("cannot open the state database {url}: {message}")]
    Open {
        /// The database URL with any password removed.
        url: String,
        /// What failed.
        message: String,
    },
    /// A query failed.
    #[error("state database: {0}")]
    Query(#[from] sqlx::Error),
    /// A stored document does not decode.
    #[error("state database holds an unreadable {what}: {message}")]
    Corrupt {
        /// Which record.
        what: String,
        /// The decode error.
        message: String,
    },
}

/// Why an OIDC bearer token was refused: [`OidcError::NoRole`] is a 403 (the token is valid,
/// its claim maps to no role), every other one a 401. None of them holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OidcError {
    /// It is not a signed JWT (JWS compact serialisation).
    #[error("the bearer token is neither a Chorale token (`chorale_…`) nor a signed JWT: {0}")]
    Malformed(String),
    /// Its algorithm is not one of the asymmetric ones accepted.
    #[error(
        "the token's algorithm is `{alg}`; only the issuer's asymmetric signatures are accepted: {}",
        crate::api::oidc::ALGORITHM_NAMES
    )]
    Algorithm {
        /// The header's `alg`.
        alg: String,
    },
    /// Its header names no key.
    #[error("the token's header names no key (`kid`); the issuer's key is chosen by it")]
    NoKeyId,
    /// Its header asks for extensions that are not understood.
    #[error("the token's header lists critical extensions (`crit`) that are not understood")]
    Critical,
    /// A claim every accepted token carries is missing.
    #[error("the token has no `{0}` claim")]
    MissingClaim(&'static str),
    /// A claim has the wrong type.
    #[error("the token's `{claim}` claim is not {expected}")]
    BadClaim {
        /// The claim.
        claim: &'static str,
        /// What it must be, e.g. `a number (seconds since 1970)`.
        expected: &'static str,
    },
    /// Its `exp` is past (beyond the leeway).
    #[error("the token expired at {at}; get a new one from the issuer")]
    Expired {
        /// Its `exp`.
        at: jiff::Timestamp,
    },
    /// Its `nbf` is to come (beyond the leeway).
    #[error("the token is not valid before {at}")]
    NotYetValid {
        /// Its `nbf`.
        at: jiff::Timestamp,
    },
    /// Another issuer made it.
    #[error("the token's issuer is `{found}`, not `{expected}`")]
    WrongIssuer {
        /// Its `iss`.
        found: String,
        /// The configured issuer.
        expected: String,
    },
    /// It is meant for another audience.
    #[error(
        "the token's audience is {found}, not `{expected}`; ask the issuer for a token for `{expected}`"
    )]
    WrongAudience {
        /// Its `aud`, as a list for people.
        found: String,
        /// The configured audience.
        expected: String,
    },
    /// It is signed with a key the issuer's key set lacks (after one fetch of it).
    #[error(
        "the token is signed with the key `{kid}`, which the issuer's key set ({url}, fetched at {fetched_at}) does not hold: a token of another issuer, or of a key it no longer publishes"
    )]
    UnknownKey {
        /// The header's `kid`.
        kid: String,
        /// Where the key set came from.
        url: String,
        /// When it was fetched.
        fetched_at: jiff::Timestamp,
    },
    /// The issuer's key of that id cannot check this token.
    #[error("the issuer's key `{kid}` cannot check this token: {reason}")]
    KeyUnusable {
        /// The key's id.
        kid: String,
        /// Why, e.g. it is an EC key and the token is RS256.
        reason: String,
    },
    /// The issuer's keys could not be fetched.
    #[error(
        "the issuer's keys cannot be fetched from {url}: {reason}; OIDC tokens are refused until they can be"
    )]
    KeysUnavailable {
        /// The discovery document's or the key set's URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The signature does not verify with the issuer's key.
    #[error(
        "the token's signature does not verify with the issuer's key `{kid}`: it was altered or signed with another key"
    )]
    BadSignature {
        /// The key's id.
        kid: String,
    },
    /// The JWT library refused it for another reason.
    #[error("the token was refused: {0}")]
    Refused(String),
    /// A valid token whose role claim maps to no role.
    #[error(
        "{actor} has no role: {reason}; an operator maps a value of the `{claim}` claim to a role with `chorale serve --oidc-role VALUE=ROLE`"
    )]
    NoRole {
        /// `oidc:SUBJECT`.
        actor: String,
        /// The role claim.
        claim: String,
        /// What the claim holds, e.g. "no value of its `groups` claim (staff) is mapped".
        reason: String,
    },
}

/// Any error of a Chorale command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest is invalid.
    #[error("{0}")]
    Manifest(#[from] ManifestErrors),
    /// Components could not be resolved.
    #[error("{0}")]
    Snapshot(#[from] SnapshotErrors),
    /// The bundle could not be written.
    #[error("bundle {destination}: {source}")]
    Bundle {
        /// Where it was going.
        destination: String,
        /// What failed.
        source: RegistryError,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A test cluster could not be provisioned or torn down.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// The Kubernetes API of the test cluster failed.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// helm could not be run.
    #[error(transparent)]
    Helm(#[from] HelmError),
    /// The bundle could not be read back for the deploy.
    #[error("reading the bundle back: {0}")]
    Fetch(RegistryError),
    /// The run was stopped by a signal.
    #[error("interrupted by {0}")]
    Interrupted(String),
    /// No build, lock or file of that name.
    #[error("`{0}` is neither a build id, a lock id nor a lock file")]
    NotFound(String),
    /// No recorded build has this id, or several start with it.
    #[error(
        "no build `{0}` is recorded, or several ids start with it; `chorale builds list` shows the recorded builds"
    )]
    NoSuchBuild(String),
    /// A report could not be rendered (a product's template override failed).
    #[error("report: {0}")]
    Report(#[from] chorale_reports::RenderError),
    /// A request was invalid (a bad option value).
    #[error("{0}")]
    Invalid(String),
    /// One field of a request was invalid.
    #[error("{field}: {message}")]
    InvalidField {
        /// The field, as the request names it.
        field: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// No such thing is recorded.
    #[error("no {kind} `{name}`; {hint}")]
    NoSuch {
        /// What was asked for: `product`, `token`, …
        kind: &'static str,
        /// Its name or id.
        name: String,
        /// Where to look instead.
        hint: &'static str,
    },
    /// The change would clash with what is recorded.
    #[error("{0}")]
    Conflict(String),
    /// A step of publishing a release failed for good (after its retries); the release is
    /// `publish-failed` at that step and nothing after it was done.
    #[error(
        "publishing {product} {version} failed at step {step}: {message}; fix the cause, then `chorale release publish {product} {version} --resume` continues from that step"
    )]
    Publish {
        /// The product.
        product: String,
        /// The version.
        version: String,
        /// The step that failed.
        step: crate::resources::release::PublishStep,
        /// Why.
        message: String,
    },
    /// The caller is not known (no, an unknown, an expired or a revoked token).
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller's role does not allow it.
    #[error("{actor} has the role {role}; this needs {needed} or above")]
    Forbidden {
        /// Who asked.
        actor: String,
        /// Their role.
        role: crate::resources::access::Role,
        /// The role needed.
        needed: crate::resources::access::Role,
    },
    /// A Chorale server refused a request (`--server`): its status and its problem's detail
    /// (with every manifest error it lists).
    #[error("the server answered {status}: {detail}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// What it said.
        detail: String,
    },
    /// A Chorale server could not be reached, or answered what is not Chorale's API.
    #[error("{0}")]
    Unreachable(String),
    /// An OIDC bearer token was refused.
    #[error(transparent)]
    Oidc(#[from] OidcError),
    /// Writing output failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

impl Error {
    /// The exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            Self::Server { status, .. } if *status < 500 => exit::INVALID_INPUT,
            Self::Manifest(_)
            | Self::NotFound(_)
            | Self::NoSuchBuild(_)
            | Self::Report(_)
            | Self::Invalid(_)
            | Self::InvalidField { .. }
            | Self::NoSuch { .. }
            | Self::Conflict(_)
            | Self::Unauthenticated(_)
            | Self::Oidc(_)
            | Self::Forbidden { .. } => exit::INVALID_INPUT,
            Self::Snapshot(errors) => {
                if errors.0.iter().all(ComponentError::is_infrastructure) {
                    exit::INFRASTRUCTURE
                } else {
                    exit::INVALID_INPUT
                }
            }
            Self::Bundle { .. }
            | Self::Store(_)
            | Self::Io { .. }
            | Self::Cluster(_)
            | Self::Kube(_)
            | Self::Helm(_)
            | Self::Fetch(_)
            | Self::Server { .. }
            | Self::Publish { .. }
            | Self::Unreachable(_) => exit::INFRASTRUCTURE,
            Self::Interrupted(_) => exit::INTERRUPTED,
        }
    }
}

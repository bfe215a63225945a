//! Errors of the runners, one enum per outside system, each variant a sentence a person can act on.

use std::path::PathBuf;

/// What went wrong talking to a git remote or reading the local git cache.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GitError {
    /// The remote could not be reached or refused the fetch.
    #[error("cannot fetch {url}: {message}")]
    Unreachable {
        /// The remote URL (credentials are never part of it).
        url: String,
        /// What libgit2 reported.
        message: String,
    },
    /// The remote asked for credentials and no token was configured, or it refused the token.
    #[error("{url}: the remote refused access (HTTP 401); {}", token_hint(*.rejected, .variable))]
    Unauthorized {
        /// The remote URL.
        url: String,
        /// Whether a token was sent (and refused), rather than none configured.
        rejected: bool,
        /// The variable the token came from, or the per-host one that would hold it.
        variable: String,
    },
    /// The ref is neither a branch, a tag nor a commit of the remote.
    #[error("ref `{reference}` not found in {url}{}", available_hint(.available))]
    RefNotFound {
        /// The remote URL.
        url: String,
        /// The ref that was asked for.
        reference: String,
        /// Some branches and tags the remote does have.
        available: Vec<String>,
    },
    /// The path does not exist at that commit or is not a folder.
    #[error("{url} at {commit}: `{path}` is not a folder of the repository")]
    PathNotFound {
        /// The remote URL.
        url: String,
        /// The commit that was read.
        commit: String,
        /// The path inside the repository.
        path: String,
    },
    /// The tree holds something Chorale cannot package (a submodule or a symlink).
    #[error("{url} at {commit}: `{path}` is a {what}, which a chart may not contain")]
    UnsupportedEntry {
        /// The remote URL.
        url: String,
        /// The commit that was read.
        commit: String,
        /// The path of the entry.
        path: String,
        /// `submodule` or `symbolic link`.
        what: &'static str,
    },
    /// The local cache could not be opened or written.
    #[error("git cache at {path}: {message}")]
    Cache {
        /// The cache folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
    /// A libgit2 operation failed on the cached repository.
    #[error("{url}: {message}")]
    Repository {
        /// The remote URL.
        url: String,
        /// What libgit2 reported.
        message: String,
    },
}

fn token_hint(rejected: bool, variable: &str) -> String {
    if rejected {
        format!("it rejected the token in {variable}")
    } else {
        format!("set a token that may read it in {variable} or CHORALE_GIT_TOKEN")
    }
}

fn available_hint(available: &[String]) -> String {
    if available.is_empty() {
        String::from(" (the remote has no branches or tags)")
    } else {
        format!("; it has: {}", available.join(", "))
    }
}

/// What went wrong talking to an OCI registry or writing an OCI image layout.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The text is not a valid OCI reference.
    #[error("`{reference}` is not a valid image reference: {message}")]
    InvalidReference {
        /// The text that was given.
        reference: String,
        /// Why it does not parse.
        message: String,
    },
    /// The manifest, tag or blob does not exist.
    #[error("{reference}: not found in the registry")]
    NotFound {
        /// The reference that was asked for.
        reference: String,
    },
    /// The registry refused the credentials (or asked for some and none were configured).
    #[error(
        "{registry}: the registry refused access (HTTP 401/403) to {reference}; configure credentials in ~/.docker/config.json or CHORALE_REGISTRY_{}_USERNAME / _PASSWORD",
        env_host(.registry)
    )]
    Unauthorized {
        /// The registry host.
        registry: String,
        /// The reference that was asked for.
        reference: String,
    },
    /// The registry could not be reached (connection refused, DNS, TLS, timeout).
    #[error("{registry}: cannot reach the registry: {message}")]
    Unreachable {
        /// The registry host.
        registry: String,
        /// What the HTTP client reported.
        message: String,
    },
    /// The registry answered with an error status.
    #[error("{reference}: the registry answered HTTP {status}: {message}")]
    Server {
        /// The reference of the request.
        reference: String,
        /// The HTTP status code.
        status: u16,
        /// The error message the registry sent.
        message: String,
    },
    /// The registry answered something that does not follow the distribution spec.
    #[error("{reference}: unexpected answer from the registry: {message}")]
    Protocol {
        /// The reference of the request.
        reference: String,
        /// What was wrong with it.
        message: String,
    },
    /// Reading the credentials for a registry failed.
    #[error("{registry}: cannot read credentials: {message}")]
    Credentials {
        /// The registry host.
        registry: String,
        /// What failed (never the secret itself).
        message: String,
    },
    /// Reading or writing an OCI image layout on disk failed.
    #[error("OCI layout {path}: {message}")]
    Layout {
        /// The layout folder.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl RegistryError {
    /// Whether trying again later may succeed (429, 5xx, timeouts, refused connections).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } => true,
            Self::Server { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// The environment-variable form of a registry host: `127.0.0.1:5000` -> `127_0_0_1_5000`.
pub fn env_host(host: &str) -> String {
    host.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

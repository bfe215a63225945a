//! Errors of the runners, one enum per outside system, each variant a sentence a person can act on.

use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::ProviderKind;
use crate::git::RefHint;
use crate::helm::HelmOutput;

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
    #[error("ref `{reference}` not found in {url}{available}")]
    RefNotFound {
        /// The remote URL.
        url: String,
        /// The ref that was asked for.
        reference: String,
        /// What the remote does have: branches first, then the names closest to the one
        /// asked, then a count of the rest.
        available: RefHint,
    },
    /// The remote has the ref but could not send it (e.g. it points at objects the remote
    /// lacks); other refs of the same remote may still be fetched.
    #[error("cannot fetch `{reference}` from {url}: {message}")]
    RefFetch {
        /// The remote URL.
        url: String,
        /// The ref (or commit id) that was asked for.
        reference: String,
        /// What libgit2 reported.
        message: String,
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
    /// The tag name is not one git accepts (checked before anything is fetched).
    #[error(
        "`{tag}` is not a valid git tag name: `refs/tags/{tag}` must be a valid ref name (no spaces, `..`, `~`, `^`, `:`, `?`, `*`, `[`, `\\`, no leading `-`, no trailing `.lock` or `/`); change the tag prefix or the version"
    )]
    InvalidTagName {
        /// The name that was given.
        tag: String,
    },
    /// What was given as the commit to tag is not a full commit id.
    #[error("`{commit}` is not a full 40-hex commit id; tag a commit by its full id")]
    InvalidCommitId {
        /// What was given.
        commit: String,
    },
    /// The tagger's name or e-mail cannot be written into a tag.
    #[error(
        "the tagger `{name} <{email}>` cannot sign a git tag: {message}; set a plain name and e-mail"
    )]
    InvalidTagger {
        /// The tagger's name.
        name: String,
        /// The tagger's e-mail.
        email: String,
        /// What libgit2 reported.
        message: String,
    },
    /// The commit to tag is not in the remote, so a tag there could not point at it.
    #[error(
        "commit {commit} is not in {url}; push it to that repository first, then publish again"
    )]
    CommitNotInRemote {
        /// The remote URL.
        url: String,
        /// The commit that was to be tagged.
        commit: String,
    },
    /// The tag already exists in the remote on another commit; a version's tag never moves.
    #[error(
        "tag {tag} in {url} is already on commit {found}, not on {commit}; a version's tag never moves: publish under a new version, or remove the tag by hand if it is wrong"
    )]
    TagElsewhere {
        /// The remote URL.
        url: String,
        /// The tag name.
        tag: String,
        /// The commit that was to be tagged.
        commit: String,
        /// The commit (or, when it peels to none, the object) the remote's tag is on.
        found: String,
    },
    /// The remote refused the update of the reference.
    #[error(
        "{url} refused {reference}: {reason}; check that the remote accepts new tags from this identity"
    )]
    PushRejected {
        /// The remote URL.
        url: String,
        /// The reference that was pushed.
        reference: String,
        /// What the remote (or libgit2) said.
        reason: String,
    },
    /// The push could not reach the remote or was cut off.
    #[error("cannot push {reference} to {url}: {message}; try again once the remote is reachable")]
    PushInterrupted {
        /// The remote URL.
        url: String,
        /// The reference that was pushed.
        reference: String,
        /// What libgit2 reported.
        message: String,
    },
}

impl GitError {
    /// Whether trying again later may succeed: the remote could not be reached or the
    /// connection dropped (which a ref the remote could not send may also be). A missing commit, a tag elsewhere, a refused token or a rejected
    /// update stay as they are until someone acts.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. } | Self::RefFetch { .. } | Self::PushInterrupted { .. }
        )
    }
}

fn token_hint(rejected: bool, variable: &str) -> String {
    if rejected {
        format!("it rejected the token in {variable}")
    } else {
        format!("set a token that may read it in {variable} or CHORALE_GIT_TOKEN")
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

/// What went wrong creating, reaching or deleting a disposable cluster.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClusterError {
    /// The name is not one of the providers.
    #[error(
        "unknown cluster provider `{given}`; expected one of {}",
        provider_names()
    )]
    UnknownProvider {
        /// What was given.
        given: String,
    },
    /// The program the provider drives is not installed.
    #[error(
        "the {provider} cluster provider needs `{program}`, which is not installed or not on PATH; {hint}"
    )]
    MissingCli {
        /// The provider.
        provider: ProviderKind,
        /// The program (a name looked up on PATH, or the configured path).
        program: String,
        /// How to install it.
        hint: String,
    },
    /// An option the provider needs was not given.
    #[error("the {provider} cluster provider needs {what}; {hint}")]
    NotConfigured {
        /// The provider.
        provider: ProviderKind,
        /// What is missing.
        what: &'static str,
        /// How to give it.
        hint: &'static str,
    },
    /// A program could not be started.
    #[error("cluster {name}: cannot run `{command}`: {message}")]
    Spawn {
        /// The cluster.
        name: String,
        /// The command line.
        command: String,
        /// The operating system's error.
        message: String,
    },
    /// A program ran and failed.
    #[error("cluster {name}: `{command}` failed ({status}){}", output_suffix(.output))]
    CommandFailed {
        /// The cluster.
        name: String,
        /// The command line.
        command: String,
        /// Its exit status.
        status: String,
        /// The end of its stderr (or stdout when stderr was empty).
        output: String,
    },
    /// Something did not happen in time.
    #[error("cluster {name}: {what} did not finish within {}s{}", timeout.as_secs(), log_suffix(.log.as_deref(), .tail))]
    Timeout {
        /// The cluster.
        name: String,
        /// What was waited for.
        what: String,
        /// How long.
        timeout: Duration,
        /// The log of the process waited for, if it has one.
        log: Option<PathBuf>,
        /// The end of that log.
        tail: String,
    },
    /// kube-sim exited before it printed its ready line.
    #[error("cluster {name}: kube-sim exited ({status}) before it was ready{}", log_suffix(Some(.log), .tail))]
    SimExited {
        /// The cluster.
        name: String,
        /// Its exit status.
        status: String,
        /// Its log.
        log: PathBuf,
        /// The end of its log.
        tail: String,
    },
    /// A kube-sim process could not be stopped.
    #[error("cluster {name}: cannot stop kube-sim (pid {pid}): {message}")]
    Stop {
        /// The cluster.
        name: String,
        /// The kube-sim process.
        pid: u32,
        /// What went wrong.
        message: String,
    },
    /// A program printed something the provider cannot use.
    #[error("cluster {name}: `{command}` {message}")]
    UnexpectedOutput {
        /// The cluster.
        name: String,
        /// The command line.
        command: String,
        /// What was wrong with its output.
        message: String,
    },
    /// A kubeconfig could not be read, used or written.
    #[error("kubeconfig {}: {message}", path.display())]
    Kubeconfig {
        /// The kubeconfig (or where it was looked for).
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A call to the cluster's API failed.
    #[error("cluster {name}: {source}")]
    Kube {
        /// The cluster.
        name: String,
        /// What failed.
        source: KubeError,
    },
    /// A file or folder of the cluster could not be created, read or removed.
    #[error("cluster {name}: cannot {action} {}: {message}", path.display())]
    Io {
        /// The cluster.
        name: String,
        /// What was being done, e.g. `create the folder`.
        action: &'static str,
        /// The file or folder.
        path: PathBuf,
        /// The operating system's error.
        message: String,
    },
    /// A provider was asked to tear down a cluster another provider made.
    #[error(
        "cluster {name} was provisioned by the {found} provider; the {provider} provider cannot tear it down"
    )]
    WrongProvider {
        /// The cluster.
        name: String,
        /// The provider that was asked.
        provider: ProviderKind,
        /// The provider whose handle the cluster carries.
        found: ProviderKind,
    },
}

impl ClusterError {
    /// Whether the provider's program is not installed (the machine, not the cluster, needs
    /// fixing).
    pub fn is_missing_cli(&self) -> bool {
        matches!(self, Self::MissingCli { .. })
    }
}

fn provider_names() -> String {
    ProviderKind::ALL
        .iter()
        .map(|kind| kind.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn output_suffix(output: &str) -> String {
    if output.trim().is_empty() {
        String::new()
    } else {
        format!(":\n{output}")
    }
}

fn log_suffix(log: Option<&std::path::Path>, tail: &str) -> String {
    match log {
        Some(log) if tail.trim().is_empty() => format!("; its log is {}", log.display()),
        Some(log) => format!("; its log {} ends with:\n{tail}", log.display()),
        None => String::new(),
    }
}

/// What went wrong running helm.
#[derive(Debug, Clone, thiserror::Error)]
pub enum HelmError {
    /// helm is not installed.
    #[error(
        "`{program}` is not installed or not on PATH; run infra/dev/install (it installs helm {}) or set CHORALE_HELM to the helm binary",
        crate::helm::HELM_VERSION
    )]
    Missing {
        /// What was looked for: `helm` or the value of `CHORALE_HELM`.
        program: String,
    },
    /// helm could not be started.
    #[error("cannot run `{command}`: {message}")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's error.
        message: String,
    },
    /// helm ran and failed; the output is kept whole so it can be recorded.
    #[error("helm {what} failed ({}){}", exit_text(*.exit), output_suffix(&crate::process::output_tail(&output.stdout, &output.stderr)))]
    Failed {
        /// What helm was doing, e.g. `upgrade --install of release web in namespace demo`.
        what: String,
        /// Its exit code; `None` when a signal ended it.
        exit: Option<i32>,
        /// Everything it printed.
        output: HelmOutput,
    },
}

fn exit_text(exit: Option<i32>) -> String {
    exit.map_or_else(
        || String::from("killed by a signal"),
        |code| format!("exit code {code}"),
    )
}

/// What went wrong talking to a cluster's API.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KubeError {
    /// The kubeconfig could not be read or does not describe a usable cluster.
    #[error("kubeconfig {}: {message}", path.display())]
    Kubeconfig {
        /// The kubeconfig.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// An API call failed.
    #[error("cannot {action} {object}: {message}")]
    Api {
        /// What was being done, e.g. `create`.
        action: &'static str,
        /// The object, e.g. `namespace chorale-x` or `Job demo/smoke`.
        object: String,
        /// The HTTP status the API server answered, when it answered.
        status: Option<u16>,
        /// What the API server (or the client) reported.
        message: String,
    },
    /// The object given to create is not a Kubernetes object.
    #[error("cannot create {object}: {message}")]
    InvalidObject {
        /// What could be read of it.
        object: String,
        /// What is wrong.
        message: String,
    },
    /// An object disappeared while it was waited on.
    #[error("{object} was deleted while waiting for it to {what}")]
    Gone {
        /// The object.
        object: String,
        /// What was waited for.
        what: &'static str,
    },
    /// Waiting for something timed out.
    #[error("{object} did not {what} within {}s", timeout.as_secs())]
    Timeout {
        /// The object.
        object: String,
        /// What was waited for, e.g. `go away`.
        what: &'static str,
        /// How long.
        timeout: Duration,
    },
}

/// What went wrong publishing a release through GitHub's REST API. No variant carries the token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GithubError {
    /// The API URL cannot make a client.
    #[error("cannot talk to the GitHub API at {api_url}: {message}")]
    Client {
        /// The API URL that was configured.
        api_url: String,
        /// Why it does not work.
        message: String,
    },
    /// GitHub answered with an error status.
    #[error("{request}: GitHub answered HTTP {status}: {message}")]
    Status {
        /// The request, as `METHOD URL`.
        request: String,
        /// The HTTP status code.
        status: u16,
        /// GitHub's message, with the details of a validation failure.
        message: String,
    },
    /// No answer came within the timeout.
    #[error("{request}: GitHub did not answer within {timeout:?}")]
    Timeout {
        /// The request, as `METHOD URL`.
        request: String,
        /// The timeout of one request.
        timeout: Duration,
    },
    /// GitHub could not be reached (connection refused, DNS, TLS).
    #[error("{request}: cannot reach GitHub: {message}")]
    Unreachable {
        /// The request, as `METHOD URL`.
        request: String,
        /// What the HTTP client reported.
        message: String,
    },
    /// GitHub answered something its API description does not allow.
    #[error("{request}: unexpected answer from GitHub: {message}")]
    Protocol {
        /// The request, as `METHOD URL`.
        request: String,
        /// What was wrong with it.
        message: String,
    },
    /// Every attempt failed transiently; this is how the last one failed.
    #[error("{last} (gave up after {attempts} attempts)")]
    GaveUp {
        /// How many times the publication was tried.
        attempts: u32,
        /// The failure of the last attempt.
        last: Box<GithubError>,
    },
}

impl GithubError {
    /// Whether trying again later may succeed (429, 5xx, timeouts, no connection); a 4xx
    /// such as 401, 403, 404 or 422 is permanent.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout { .. } | Self::Unreachable { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::GaveUp { last, .. } => last.is_transient(),
            Self::Client { .. } | Self::Protocol { .. } => false,
        }
    }
}

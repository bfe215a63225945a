//! The fixtures' errors. `Debug` prints the same sentence as `Display` (which names its cause), so
//! a test that calls `.unwrap()` or `.expect()` on a fixture shows a readable message.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything a fixture can fail with.
#[derive(thiserror::Error)]
pub enum Error {
    /// A program the fixture runs is not installed.
    #[error("`{binary}` is not installed or not on PATH ({purpose}); run infra/dev/install")]
    MissingBinary {
        /// The program.
        binary: String,
        /// What the fixture needs it for.
        purpose: &'static str,
    },
    /// A program could not be started.
    #[error("cannot start `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("`{command}` failed with {status}: {output}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its stderr (or stdout when stderr is empty), trimmed.
        output: String,
    },
    /// A server exited while the fixture waited for it.
    #[error("{server} exited before it answered ({status}); its log {log} ends with:\n{tail}")]
    Exited {
        /// Which server.
        server: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
    },
    /// A server did not answer in time.
    #[error("{server} did not answer within {timeout:?}; its log {log} ends with:\n{tail}")]
    NotReady {
        /// Which server.
        server: String,
        /// How long the fixture waited.
        timeout: Duration,
        /// Its log file.
        log: PathBuf,
        /// The end of the log.
        tail: String,
    },
    /// The installed helm is not the pinned version.
    #[error(
        "{path} is helm {found}, but Chorale pins helm {expected}; run infra/dev/install or set CHORALE_HELM"
    )]
    WrongHelmVersion {
        /// The helm binary.
        path: PathBuf,
        /// The version it reports.
        found: String,
        /// The pinned version.
        expected: &'static str,
    },
    /// A file or directory operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What the fixture was doing, e.g. `writing`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// An in-process server (the token server, the git HTTPS server) could not create its
    /// certificates or start.
    #[error("cannot {action} for the {server}: {reason}")]
    InProcessServer {
        /// Which server.
        server: &'static str,
        /// What was being done.
        action: &'static str,
        /// The library's error.
        reason: String,
    },
    /// A program printed something the fixture could not understand.
    #[error("unexpected output from `{command}`: {output}")]
    UnexpectedOutput {
        /// The command line.
        command: String,
        /// What it printed.
        output: String,
    },
}

impl Error {
    /// Wraps an I/O error on a path.
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Every message already carries its cause.
        write!(f, "{self}")
    }
}

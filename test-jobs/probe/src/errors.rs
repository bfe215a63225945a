//! The probe's errors. The probe is std only, so `Display` is written by hand instead of
//! derived with `thiserror`; every message reads as a sentence and names what was wrong.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the probe.
#[derive(Debug)]
pub enum Error {
    /// The command line could not be understood; the text says what and how to fix it.
    Usage(String),
    /// A `--check` specification (or a line of a `--checks` file) is malformed.
    InvalidCheck {
        /// The specification as written.
        spec: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A URL is not an `http://host[:port][/path]` URL.
    InvalidUrl {
        /// The URL as written.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A duration such as `30s` could not be parsed.
    InvalidDuration(String),
    /// The host name of a URL did not resolve to any address.
    Resolve {
        /// `host:port` that was looked up.
        host: String,
        /// The resolver's error.
        source: io::Error,
    },
    /// Connecting, sending or receiving failed.
    Io {
        /// What the probe was doing, e.g. `connecting to 10.0.0.1:8080`.
        action: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The peer sent something that is not HTTP/1.x.
    MalformedResponse(String),
    /// A collector's log is not in the results format (see [`crate::results`]).
    CollectorLog {
        /// The 1-based line of the log where the problem is.
        line: usize,
        /// What is wrong there.
        reason: String,
    },
    /// A file could not be read or written.
    File {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what the probe was doing when it happened.
    pub(crate) fn io(action: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            action: action.into(),
            source,
        }
    }

    /// Wraps an I/O error on a file.
    pub(crate) fn file(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Self::File {
            path: path.into(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Usage(text) => write!(f, "{text} (see `chorale-probe --help`)"),
            Self::InvalidCheck { spec, reason } => {
                write!(
                    f,
                    "the check `{spec}` is invalid: {reason}; expected URL[=STATUS][~BODY_FRAGMENT], e.g. http://api:8080/readyz=200~ok"
                )
            }
            Self::InvalidUrl { url, reason } => {
                write!(
                    f,
                    "`{url}` is not a valid URL: {reason}; expected http://host[:port][/path]"
                )
            }
            Self::InvalidDuration(text) => write!(
                f,
                "`{text}` is not a duration; write a number with an optional unit ms, s, m or h, e.g. 500ms, 30s, 2m"
            ),
            Self::Resolve { host, source } => write!(f, "cannot resolve {host}: {source}"),
            Self::Io { action, source } => write!(f, "{action} failed: {source}"),
            Self::MalformedResponse(reason) => write!(f, "the response is not HTTP/1.x: {reason}"),
            Self::CollectorLog { line, reason } => {
                write!(f, "the collector's log is damaged at line {line}: {reason}")
            }
            Self::File { path, source } => write!(f, "{}: {source}", path.display()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Resolve { source, .. } | Self::Io { source, .. } | Self::File { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

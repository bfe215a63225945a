//! Errors of kube-sim: [`Error`] for starting and stopping a cluster, [`ApiError`] for the
//! Kubernetes API, answered to clients as a `Status` object.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde_json::{Value, json};

/// Why a sim cluster could not start, run or stop.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state directory could not be created or written.
    #[error("could not write {path}: {source}")]
    WriteFile {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// The certificate authority or the serving certificate could not be generated.
    #[error("could not generate the cluster's TLS certificates: {0}")]
    Certificates(#[from] rcgen::Error),
    /// rustls refused the generated certificate.
    #[error("could not configure TLS for the API server: {0}")]
    Tls(#[from] tokio_rustls::rustls::Error),
    /// The API server could not listen on the requested address.
    #[error("could not listen on {addr}: {source}")]
    Listen {
        /// The address asked for with `--listen`.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// A program that kube-sim runs (podman, ip) is not installed.
    #[error("could not run `{program}` (is it installed and on PATH?): {source}")]
    Spawn {
        /// The program name.
        program: String,
        /// What the operating system said.
        source: io::Error,
    },
    /// A program that kube-sim runs failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The command line, without secrets.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// A program printed something kube-sim could not understand.
    #[error("could not understand the output of `{command}`: {detail}")]
    CommandOutput {
        /// The command line.
        command: String,
        /// What was wrong with it.
        detail: String,
    },
    /// No free subnet was found for the cluster's pod network.
    #[error(
        "found no free subnet for the cluster network after {attempts} attempts; last error: {last}"
    )]
    NoFreeSubnet {
        /// How many subnets were tried.
        attempts: u32,
        /// The last error podman gave.
        last: String,
    },
    /// The cluster DNS server could not bind its address.
    #[error("could not serve cluster DNS on {addr}: {source}")]
    Dns {
        /// The address on the cluster bridge.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// An object every cluster starts with could not be created.
    #[error("could not create the cluster's initial objects: {0}")]
    Seed(ApiError),
    /// The kubeconfig could not be serialised.
    #[error("could not write the kubeconfig: {0}")]
    Kubeconfig(String),
    /// The cluster name is not usable as a podman label value and a DNS label.
    #[error(
        "invalid cluster name {0:?}: use 1 to 40 lowercase letters, digits and '-', starting with a letter"
    )]
    InvalidName(String),
    /// A Kubernetes version is not written `MAJOR.MINOR[.PATCH]`.
    #[error("invalid Kubernetes version {0:?}: write it as MAJOR.MINOR[.PATCH], e.g. 1.25.9")]
    InvalidKubernetesVersion(String),
    /// A Kubernetes version kube-sim does not serve.
    #[error("kube-sim serves Kubernetes 1.{oldest} to 1.{newest}; {given} is not one of them")]
    UnsupportedKubernetesVersion {
        /// The version asked for.
        given: String,
        /// The oldest minor version served.
        oldest: u32,
        /// The newest minor version served.
        newest: u32,
    },
}

/// A Kubernetes API error. Serialised as a `Status` object with the HTTP status `code`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The HTTP status code.
    pub code: u16,
    /// The machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, ...).
    pub reason: &'static str,
    /// The human-readable message.
    pub message: String,
    /// `details` of the Status: the object's name, group and kind (resource) when known.
    pub details: Option<Value>,
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, group: &str, resource: &str, name: &str) -> Self {
        self.details = Some(json!({"name": name, "group": group, "kind": resource}));
        self
    }

    /// `resource "name" not found`, as the API server says it.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let qualified = qualified(group, resource);
        Self::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
            .with_details(group, resource, name)
    }

    /// A path or resource the server does not serve.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("the server could not find the requested resource ({path})"),
        )
    }

    /// The object exists already.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let qualified = qualified(group, resource);
        Self::new(
            409,
            "AlreadyExists",
            format!("{qualified} \"{name}\" already exists"),
        )
        .with_details(group, resource, name)
    }

    /// The object was modified since the client read it.
    pub fn conflict(group: &str, resource: &str, name: &str, why: &str) -> Self {
        let qualified = qualified(group, resource);
        Self::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {qualified} \"{name}\": {why}"),
        )
        .with_details(group, resource, name)
    }

    /// The object is not valid: 422 `Invalid` with the `details` (name, group, kind and one
    /// cause per field error) that validation built.
    pub fn invalid(message: String, details: Value) -> Self {
        Self {
            details: Some(details),
            ..Self::new(422, "Invalid", message)
        }
    }

    /// The request cannot be applied to the object (a JSON patch that does not apply).
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message)
    }

    /// The request is malformed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }

    /// The request is not allowed (for example, creating in a terminating namespace).
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "Forbidden", message)
    }

    /// The bearer token is missing or wrong.
    pub fn unauthorized() -> Self {
        Self::new(401, "Unauthorized", "Unauthorized")
    }

    /// The verb is not supported on this resource.
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "MethodNotAllowed", message)
    }

    /// The request body is in a media type kube-sim does not read (protobuf).
    pub fn unsupported_media_type(content_type: &str) -> Self {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (got {content_type})"
            ),
        )
    }

    /// No media type the client accepts can be produced.
    pub fn not_acceptable(accept: &str) -> Self {
        Self::new(
            406,
            "NotAcceptable",
            format!(
                "only the following media types are accepted: application/json (asked for {accept})"
            ),
        )
    }

    /// The resource version asked for is older than the kept history.
    pub fn gone(message: impl Into<String>) -> Self {
        Self::new(410, "Expired", message)
    }

    /// Something went wrong inside kube-sim.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "InternalError", message)
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    }
}

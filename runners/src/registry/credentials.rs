//! Registry credentials: from the environment, then from the docker/podman auth file.
//!
//! For a registry host `H` (e.g. `127.0.0.1:5000`, whose environment form is `127_0_0_1_5000`):
//! `CHORALE_REGISTRY_<H>_TOKEN` (a bearer token), or `CHORALE_REGISTRY_<H>_USERNAME` with
//! `CHORALE_REGISTRY_<H>_PASSWORD`; otherwise the `auths`/`credHelpers` of the auth file
//! (`$REGISTRY_AUTH_FILE`, `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`); otherwise
//! anonymous.

use std::path::PathBuf;

use oci_client::secrets::RegistryAuth;
use secrecy::{ExposeSecret, SecretString};

use crate::errors::{RegistryError, env_host};

/// Credentials for one registry; the secret parts never print.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials: anonymous access.
    #[default]
    Anonymous,
    /// HTTP basic credentials (also used to obtain bearer tokens from a token service).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: SecretString,
    },
    /// A bearer token sent as is.
    Token(SecretString),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Self::Token(_) => f.write_str("Token(***)"),
        }
    }
}

impl Credentials {
    /// Look up the credentials for `host` (environment first, then the docker auth file).
    pub fn lookup(host: &str) -> Result<Self, RegistryError> {
        let prefix = format!("CHORALE_REGISTRY_{}_", env_host(host));
        let var = |name: &str| std::env::var(format!("{prefix}{name}")).ok();
        if let Some(token) = var("TOKEN") {
            return Ok(Self::Token(SecretString::from(token)));
        }
        match (var("USERNAME"), var("PASSWORD")) {
            (Some(username), Some(password)) => {
                return Ok(Self::Basic {
                    username,
                    password: SecretString::from(password),
                });
            }
            (Some(_), None) | (None, Some(_)) => {
                return Err(RegistryError::Credentials {
                    registry: host.to_owned(),
                    message: format!("set both {prefix}USERNAME and {prefix}PASSWORD"),
                });
            }
            (None, None) => {}
        }
        use docker_credential::{CredentialRetrievalError as E, DockerCredential};
        let Some(path) = auth_file().filter(|p| p.is_file()) else {
            return Ok(Self::Anonymous);
        };
        let file = std::fs::File::open(&path).map_err(|e| RegistryError::Credentials {
            registry: host.to_owned(),
            message: format!("{}: {e}", path.display()),
        })?;
        match docker_credential::get_credential_from_reader(std::io::BufReader::new(file), host) {
            Ok(DockerCredential::UsernamePassword(username, password)) => Ok(Self::Basic {
                username,
                password: SecretString::from(password),
            }),
            Ok(DockerCredential::IdentityToken(token)) => {
                Ok(Self::Token(SecretString::from(token)))
            }
            Err(E::NoCredentialConfigured | E::ConfigNotFound) => Ok(Self::Anonymous),
            Err(E::HelperFailure { helper, .. }) => Err(RegistryError::Credentials {
                registry: host.to_owned(),
                message: format!("credential helper `{helper}` failed"),
            }),
            Err(other) => Err(RegistryError::Credentials {
                registry: host.to_owned(),
                message: format!("{}: {other}", path.display()),
            }),
        }
    }

    pub(crate) fn to_registry_auth(&self) -> RegistryAuth {
        match self {
            Self::Anonymous => RegistryAuth::Anonymous,
            Self::Basic { username, password } => {
                RegistryAuth::Basic(username.clone(), password.expose_secret().to_owned())
            }
            Self::Token(token) => RegistryAuth::Bearer(token.expose_secret().to_owned()),
        }
    }
}

/// The auth file: `$REGISTRY_AUTH_FILE` (podman's), else `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
fn auth_file() -> Option<PathBuf> {
    if let Some(file) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return Some(PathBuf::from(file));
    }
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".docker")))
        .map(|dir| dir.join("config.json"))
}

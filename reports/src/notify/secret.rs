//! Reading secrets from the environment or from files into `SecretString`s.

use secrecy::{ExposeSecret, SecretString};

use super::config::SecretRef;
use crate::errors::ConfigError;

/// Looks up environment variables; the pipeline passes the process environment, tests a map.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads a secret. `what` names it in errors (`webhook URL`, `signing secret`).
pub(crate) fn resolve(
    notifier: &str,
    what: &'static str,
    reference: &SecretRef,
    env: EnvLookup<'_>,
) -> Result<SecretString, ConfigError> {
    let value = match reference {
        SecretRef::Env(variable) => {
            env(variable).ok_or_else(|| ConfigError::SecretVariableMissing {
                notifier: notifier.to_owned(),
                what,
                variable: variable.clone(),
            })?
        }
        SecretRef::File(path) => {
            std::fs::read_to_string(path).map_err(|err| ConfigError::SecretFileUnreadable {
                notifier: notifier.to_owned(),
                what,
                path: path.clone(),
                reason: err.to_string(),
            })?
        }
    };
    let secret = SecretString::from(value.trim().to_owned());
    if secret.expose_secret().is_empty() {
        return Err(ConfigError::SecretEmpty {
            notifier: notifier.to_owned(),
            what,
            source_name: reference.describe(),
        });
    }
    Ok(secret)
}

impl SecretRef {
    /// Read the secret from the process environment or its file; `owner` and `what` name it
    /// in errors (`github`, `token`). The value is never part of an error.
    pub fn read(&self, owner: &str, what: &'static str) -> Result<SecretString, ConfigError> {
        resolve(owner, what, self, &process_env)
    }
}

/// The process environment.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

//! Notifier configurations for tests: secrets in files of a temp dir, or in a fake
//! environment.

use std::collections::HashMap;
use std::sync::Arc;

use chorale_reports::{Notifier, NotifierConfig, Templates};
use serde_json::{Value, json};

/// Secret files in a temp dir, removed on drop.
pub struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    pub fn new() -> Secrets {
        Secrets {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes `value` (with a trailing newline, as editors do) and returns `{ file: path }`.
    pub fn file(&self, name: &str, value: &str) -> Value {
        let path = self.dir.path().join(name);
        std::fs::write(&path, format!("{value}\n")).unwrap();
        json!({ "file": path })
    }
}

/// Parses a notifier configuration the way a manifest would hold it.
pub fn config(value: Value) -> NotifierConfig {
    serde_json::from_value(value).unwrap_or_else(|err| panic!("invalid notifier config: {err}"))
}

/// A notifier from `value`, with environment variables from `env`.
pub fn notifier_with_env(value: Value, env: &HashMap<&str, String>) -> Notifier {
    Notifier::from_config_with_env(&config(value), Arc::new(Templates::builtin()), &|name| {
        env.get(name).cloned()
    })
    .unwrap_or_else(|err| panic!("{err}"))
}

/// A notifier from `value` whose secrets are all in files.
pub fn notifier(value: Value) -> Notifier {
    notifier_with_env(value, &HashMap::new())
}

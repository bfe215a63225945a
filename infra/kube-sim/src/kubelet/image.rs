//! Pulling images with podman, honouring `imagePullPolicy`, with TLS verification off for
//! loopback registries and those named with `--insecure-registry`.

use std::path::Path;

use base64::Engine as _;
use serde_json::{Map, Value, json};

use super::data::{self, Source};
use crate::errors::Error;
use crate::podman::Podman;
use crate::store::Store;

/// Why an image is not available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullError {
    /// The pull failed (`ErrImagePull`).
    Failed(String),
    /// The policy is `Never` and the image is not present (`ErrImageNeverPull`).
    NeverPull(String),
}

/// The registry host of an image reference (`docker.io` for short names).
pub fn registry_host(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first
        }
        _ => "docker.io",
    }
}

/// Whether TLS verification is skipped for the registry of `image`.
pub fn insecure(image: &str, insecure_registries: &[String]) -> bool {
    let host = registry_host(image);
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    name == "localhost"
        || name.starts_with("127.")
        || name == "[::1]"
        || insecure_registries.iter().any(|r| r == host)
}

/// Makes sure `image` is present as `policy` asks; returns its `REPOSITORY@DIGEST` id.
pub async fn ensure(
    podman: &Podman,
    image: &str,
    policy: &str,
    insecure_registries: &[String],
    auth_file: Option<&Path>,
) -> Result<String, PullError> {
    let present = podman.run(&["image", "exists", image]).await.is_ok();
    let pull = match policy {
        "Never" if !present => {
            return Err(PullError::NeverPull(format!(
                "Container image \"{image}\" is not present with pull policy of Never"
            )));
        }
        "Never" => false,
        "IfNotPresent" => !present,
        _ => true,
    };
    if pull {
        let tls = format!("--tls-verify={}", !insecure(image, insecure_registries));
        let mut args = vec!["pull".to_owned(), "--quiet".to_owned(), tls];
        if let Some(file) = auth_file {
            args.extend(["--authfile".to_owned(), file.to_string_lossy().into_owned()]);
        }
        args.push(image.to_owned());
        podman.run(&args).await.map_err(|error| match error {
            Error::Command { stderr, .. } => {
                PullError::Failed(format!("Failed to pull image \"{image}\": {stderr}"))
            }
            other => PullError::Failed(format!("Failed to pull image \"{image}\": {other}")),
        })?;
    }
    let digest = podman
        .run(&["image", "inspect", "--format", "{{.Digest}}", image])
        .await
        .unwrap_or_default();
    let repository = image.split('@').next().unwrap_or(image);
    let repository = match repository.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => name,
        _ => repository,
    };
    Ok(format!("{repository}@{digest}"))
}

/// The registry credentials of the pull secrets named (`kubernetes.io/dockerconfigjson` or
/// `kubernetes.io/dockercfg` Secrets), merged into one `auth.json` document for podman.
pub fn registry_auth(store: &Store, namespace: &str, secrets: &[String]) -> Option<Value> {
    let mut auths = Map::new();
    for name in secrets {
        let Some(entries) = data::read(store, Source::Secret, namespace, name) else {
            continue;
        };
        let parsed = |key: &str| {
            entries
                .get(key)
                .and_then(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        };
        let found = parsed(".dockerconfigjson")
            .and_then(|config| config.get("auths").cloned())
            .or_else(|| parsed(".dockercfg"));
        for (registry, mut entry) in found
            .and_then(|f| f.as_object().cloned())
            .unwrap_or_default()
        {
            if entry.get("auth").is_none()
                && let (Some(user), Some(password)) = (
                    entry.get("username").and_then(Value::as_str),
                    entry.get("password").and_then(Value::as_str),
                )
            {
                let auth =
                    base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
                entry["auth"] = json!(auth);
            }
            auths.insert(registry, entry);
        }
    }
    (!auths.is_empty()).then(|| json!({"auths": auths}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_listed_registries_are_insecure() {
        assert!(insecure("127.0.0.1:5000/demo/web:1", &[]));
        assert!(insecure("localhost:5000/web", &[]));
        assert!(!insecure("registry.example.com/web:1", &[]));
        assert!(insecure(
            "registry.example.com:8443/web:1",
            &["registry.example.com:8443".into()]
        ));
        assert_eq!(registry_host("busybox"), "docker.io");
        assert_eq!(registry_host("library/busybox"), "docker.io");
    }
}

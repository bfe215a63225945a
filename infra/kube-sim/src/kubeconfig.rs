//! Writing the kubeconfig clients use to reach a sim cluster.

use std::path::Path;

use base64::Engine as _;
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

use crate::errors::Error;

/// Writes a kubeconfig with one cluster, user and context, all called `name`, readable only by
/// the owner (it holds the bearer token).
pub fn write(
    path: &Path,
    name: &str,
    server: &str,
    ca_pem: &str,
    token: &SecretString,
) -> Result<(), Error> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": ca}}],
        "users": [{"name": name, "user": {"token": token.expose_secret()}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": name,
        "preferences": {},
    });
    let text = serde_saphyr::to_string(&config).map_err(|e| Error::Kubeconfig(e.to_string()))?;
    write_private(path, text.as_bytes())
}

/// Writes a file readable only by its owner.
pub fn write_private(path: &Path, contents: &[u8]) -> Result<(), Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |source| Error::WriteFile {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    file.write_all(contents).map_err(fail)
}

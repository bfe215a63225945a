//! The pinned helm.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;

use crate::errors::Error;
use crate::process;

/// The helm version Chorale supports and tests with.
pub const HELM_VERSION: &str = "3.10.1";

/// The path of helm 3.10.1: `$CHORALE_HELM`, else `helm` on `PATH`; fails with a clear
/// message when it is missing or another version.
pub fn helm() -> Result<PathBuf, Error> {
    static CHECKED: Mutex<Option<PathBuf>> = Mutex::new(None);
    process::cached_path(&CHECKED, || {
        let name = std::env::var("CHORALE_HELM").unwrap_or_else(|_| "helm".to_owned());
        let path = process::require(&name, "to package, push and pull charts")?;
        let version =
            process::run(Command::new(&path).args(["version", "--template", "{{.Version}}"]))?;
        let found = version.trim();
        if found.strip_prefix('v') != Some(HELM_VERSION) {
            return Err(Error::WrongHelmVersion {
                path,
                found: found.to_owned(),
                expected: HELM_VERSION,
            });
        }
        Ok(path)
    })
}

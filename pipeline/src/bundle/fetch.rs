//! Reading a bundle back: the lock, and every component's chart and values file, written to a
//! folder for helm. Deploys use only this, never the sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chorale_runners::RegistryError;
use chorale_runners::registry::{OciLayout, Reference, RegistryClient, parse_reference};
use serde_json::Value;

use chorale_test_jobs::PlannedTest;

use super::{COMPONENT_ANNOTATION, LOCK_MEDIA_TYPE, TESTS_MEDIA_TYPE, VALUES_MEDIA_TYPE};
use crate::builds::BundleRef;
use crate::chart::HELM_CHART_MEDIA_TYPE;
use crate::lock::Lock;

/// A component's files, as written by [`fetch_bundle`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentFiles {
    /// The chart archive.
    pub chart: PathBuf,
    /// The values file pinning its images.
    pub values: PathBuf,
}

/// A bundle read back from where it was pushed.
#[derive(Debug, Clone)]
pub struct FetchedBundle {
    /// The lock it carries (its id checked against its content).
    pub lock: Lock,
    /// Component name -> its files.
    pub components: BTreeMap<String, ComponentFiles>,
    /// The test plan it carries.
    pub tests: Vec<PlannedTest>,
}

/// Where blobs of a bundle are read from.
enum Source {
    Registry(RegistryClient, Reference),
    Layout(OciLayout),
}

impl Source {
    async fn manifest(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        match self {
            Self::Registry(client, repository) => {
                let pinned = parse_reference(&format!(
                    "{}/{}@{digest}",
                    repository.registry(),
                    repository.repository()
                ))?;
                Ok(client.pull_manifest(&pinned).await?.bytes.to_vec())
            }
            Self::Layout(layout) => layout.read_blob(digest),
        }
    }

    async fn blob(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        match self {
            Self::Registry(client, repository) => client.pull_blob(repository, digest).await,
            Self::Layout(layout) => layout.read_blob(digest),
        }
    }
}

fn protocol(bundle: &BundleRef, message: impl Into<String>) -> RegistryError {
    RegistryError::Protocol {
        reference: format!("{}@{}", bundle.repository, bundle.digest),
        message: message.into(),
    }
}

/// Read the bundle `bundle` and write its charts and values files into `dir`.
pub async fn fetch_bundle(
    bundle: &BundleRef,
    registry: &RegistryClient,
    dir: &Path,
) -> Result<FetchedBundle, RegistryError> {
    let source = match bundle.repository.strip_prefix("oci:") {
        Some(path) => Source::Layout(OciLayout::open(path)?),
        None => Source::Registry(registry.clone(), parse_reference(&bundle.repository)?),
    };
    let manifest = source.manifest(&bundle.digest).await?;
    let manifest: Value =
        serde_json::from_slice(&manifest).map_err(|e| protocol(bundle, e.to_string()))?;
    if manifest["config"]["mediaType"] != LOCK_MEDIA_TYPE {
        return Err(protocol(
            bundle,
            "not a Chorale bundle (its config is not a lock)",
        ));
    }
    let digest_of = |v: &Value| v["digest"].as_str().map(str::to_owned);
    let config = digest_of(&manifest["config"]).ok_or_else(|| protocol(bundle, "no config"))?;
    let lock = Lock::from_json(&source.blob(&config).await?)
        .map_err(|message| protocol(bundle, format!("its lock is invalid: {message}")))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| protocol(bundle, format!("{}: {e}", dir.display())))?;
    let mut components: BTreeMap<String, (Option<PathBuf>, Option<PathBuf>)> = BTreeMap::new();
    let mut tests = None;
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        if layer["mediaType"] == TESTS_MEDIA_TYPE {
            let digest =
                digest_of(layer).ok_or_else(|| protocol(bundle, "a layer has no digest"))?;
            tests = Some(
                serde_json::from_slice(&source.blob(&digest).await?)
                    .map_err(|e| protocol(bundle, format!("its test plan is invalid: {e}")))?,
            );
            continue;
        }
        let component = layer["annotations"][COMPONENT_ANNOTATION]
            .as_str()
            .filter(|c| lock.component(c).is_some())
            .ok_or_else(|| protocol(bundle, "a layer names no component of its lock"))?;
        let digest = digest_of(layer).ok_or_else(|| protocol(bundle, "a layer has no digest"))?;
        let (suffix, slot) = match layer["mediaType"].as_str() {
            Some(HELM_CHART_MEDIA_TYPE) => ("tgz", 0),
            Some(VALUES_MEDIA_TYPE) => ("values.yaml", 1),
            _ => continue,
        };
        let path = dir.join(format!("{component}.{suffix}"));
        let data = source.blob(&digest).await?;
        std::fs::write(&path, data)
            .map_err(|e| protocol(bundle, format!("{}: {e}", path.display())))?;
        let entry = components.entry(component.to_owned()).or_default();
        if slot == 0 {
            entry.0 = Some(path);
        } else {
            entry.1 = Some(path);
        }
    }
    let mut files = BTreeMap::new();
    for component in &lock.components {
        match components.remove(&component.name) {
            Some((Some(chart), Some(values))) => {
                files.insert(component.name.clone(), ComponentFiles { chart, values });
            }
            _ => {
                return Err(protocol(
                    bundle,
                    format!(
                        "component `{}` has no chart or values layer",
                        component.name
                    ),
                ));
            }
        }
    }
    Ok(FetchedBundle {
        lock,
        components: files,
        tests: tests.ok_or_else(|| protocol(bundle, "it has no test plan layer"))?,
    })
}

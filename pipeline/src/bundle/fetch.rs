//! Reading a bundle back: the lock, and every component's chart and values file, written to a
//! folder for helm. Deploys use only this, never the sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chorale_runners::RegistryError;
use chorale_runners::registry::{RegistryClient, open_repository};
use serde_json::Value;

use chorale_test_jobs::PlannedTest;

use super::{
    COMPONENT_ANNOTATION, LOCK_MEDIA_TYPE, TESTS_MEDIA_TYPE, VALUES_FOLDER, VALUES_MEDIA_TYPE,
};
use crate::archive;
use crate::chart::HELM_CHART_MEDIA_TYPE;
use crate::resources::build::BundleRef;
use crate::resources::lock::Lock;

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
    let (store, name) = open_repository(&bundle.repository, registry)?;
    let manifest = store.read_manifest(&name, &bundle.digest).await?;
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
    let lock = Lock::from_json(&store.read_blob(&name, &config).await?)
        .map_err(|message| protocol(bundle, format!("its lock is invalid: {message}")))?;
    std::fs::create_dir_all(dir)
        .map_err(|e| protocol(bundle, format!("{}: {e}", dir.display())))?;
    let mut charts: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut values: BTreeMap<String, PathBuf> = BTreeMap::new();
    let mut tests = None;
    for layer in manifest["layers"].as_array().into_iter().flatten() {
        let digest = || digest_of(layer).ok_or_else(|| protocol(bundle, "a layer has no digest"));
        match layer["mediaType"].as_str() {
            Some(TESTS_MEDIA_TYPE) => {
                tests = Some(
                    serde_json::from_slice(&store.read_blob(&name, &digest()?).await?)
                        .map_err(|e| protocol(bundle, format!("its test plan is invalid: {e}")))?,
                );
            }
            Some(VALUES_MEDIA_TYPE) => {
                let archive = store.read_blob(&name, &digest()?).await?;
                let files = archive::read_tgz(&archive)
                    .map_err(|e| protocol(bundle, format!("its values layer is invalid: {e}")))?;
                for (path, content) in files {
                    let component = path
                        .strip_prefix(&format!("{VALUES_FOLDER}/"))
                        .and_then(|file| file.strip_suffix(".values.yaml"))
                        .filter(|c| lock.component(c).is_some())
                        .ok_or_else(|| {
                            protocol(
                                bundle,
                                format!("its values layer holds `{path}`, no component's values"),
                            )
                        })?;
                    let path = dir.join(format!("{component}.values.yaml"));
                    write(bundle, &path, &content)?;
                    values.insert(component.to_owned(), path);
                }
            }
            Some(HELM_CHART_MEDIA_TYPE) => {
                let component = layer["annotations"][COMPONENT_ANNOTATION]
                    .as_str()
                    .filter(|c| lock.component(c).is_some())
                    .ok_or_else(|| {
                        protocol(bundle, "a chart layer names no component of its lock")
                    })?;
                let path = dir.join(format!("{component}.tgz"));
                write(bundle, &path, &store.read_blob(&name, &digest()?).await?)?;
                charts.insert(component.to_owned(), path);
            }
            _ => {}
        }
    }
    let mut files = BTreeMap::new();
    for component in &lock.components {
        let name = &component.name;
        match (charts.remove(name), values.remove(name)) {
            (Some(chart), Some(values)) => {
                files.insert(name.clone(), ComponentFiles { chart, values });
            }
            (chart, _) => {
                let missing = if chart.is_none() {
                    "chart"
                } else {
                    "values file"
                };
                return Err(protocol(
                    bundle,
                    format!("component `{name}` has no {missing} in it"),
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

fn write(bundle: &BundleRef, path: &Path, content: &[u8]) -> Result<(), RegistryError> {
    std::fs::write(path, content).map_err(|e| protocol(bundle, format!("{}: {e}", path.display())))
}

//! Pod volumes as host directories bind-mounted into containers: emptyDir, configMap, secret,
//! downwardAPI, projected (including the service account token), persistentVolumeClaim and
//! hostPath.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{DownwardAPIVolumeFile, KeyToPath, Pod, Volume};
use serde_json::Value;

use super::data::{self, Source};
use crate::catalog::ResourceKey;
use crate::object::ObjectExt;
use crate::store::Store;

/// Where the service account token volume is mounted.
pub const SERVICE_ACCOUNT_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// The name kube-sim gives the service account token volume.
pub const SERVICE_ACCOUNT_VOLUME: &str = "kube-api-access";

/// What volumes are made from.
#[derive(Debug, Clone)]
pub struct VolumeContext {
    /// The store (ConfigMaps, Secrets, claims).
    pub store: Arc<Store>,
    /// The directory of this pod's volumes.
    pub pod_dir: PathBuf,
    /// The directory of persistent volumes.
    pub claims_dir: PathBuf,
    /// The cluster CA, for the service account volume.
    pub ca_pem: String,
    /// The token pods get.
    pub token: String,
}

fn write_file(path: &Path, bytes: &[u8], mode: i32) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode as u32 & 0o777))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn fresh_dir(path: &Path, mode: u32) -> Result<(), String> {
    if path.exists() {
        std::fs::remove_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    std::fs::create_dir_all(path).map_err(|e| format!("{}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn project_keys(
    dir: &Path,
    entries: &BTreeMap<String, Vec<u8>>,
    items: Option<&Vec<KeyToPath>>,
    mode: i32,
    what: &str,
) -> Result<(), String> {
    match items {
        Some(items) => {
            for item in items {
                let bytes = entries.get(&item.key).ok_or_else(|| {
                    format!(
                        "configmap references non-existent config key: {} ({what})",
                        item.key
                    )
                })?;
                write_file(&dir.join(&item.path), bytes, item.mode.unwrap_or(mode))?;
            }
        }
        None => {
            for (key, bytes) in entries {
                write_file(&dir.join(key), bytes, mode)?;
            }
        }
    }
    Ok(())
}

fn downward_files(
    dir: &Path,
    pod: &Value,
    items: &[DownwardAPIVolumeFile],
    mode: i32,
) -> Result<(), String> {
    for item in items {
        let Some(field) = &item.field_ref else {
            continue;
        };
        let text = match field.field_path.as_str() {
            "metadata.labels" | "metadata.annotations" => {
                let map = pod
                    .pointer(&format!("/{}", field.field_path.replace('.', "/")))
                    .and_then(Value::as_object)
                    .cloned()
                    .unwrap_or_default();
                map.iter().fold(String::new(), |mut text, (k, v)| {
                    use std::fmt::Write as _;
                    let _ = writeln!(text, "{k}={}", serde_json::to_string(v).unwrap_or_default());
                    text
                })
            }
            path => pod
                .pointer(&format!("/{}", path.replace('.', "/")))
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .unwrap_or_default(),
        };
        write_file(
            &dir.join(&item.path),
            text.as_bytes(),
            item.mode.unwrap_or(mode),
        )?;
    }
    Ok(())
}

/// A ConfigMap or Secret a volume takes keys from.
struct SourceRef<'a> {
    source: Source,
    name: &'a str,
    optional: Option<bool>,
    items: Option<&'a Vec<KeyToPath>>,
}

/// Writes the keys of a ConfigMap or Secret into `dir` (all, or the listed `items`).
fn project_source(
    store: &Store,
    dir: &Path,
    namespace: &str,
    from: &SourceRef<'_>,
    mode: i32,
) -> Result<(), String> {
    let entries = match data::read(store, from.source, namespace, from.name) {
        Some(entries) => entries,
        None if from.optional.unwrap_or(false) => BTreeMap::new(),
        None => {
            return Err(format!(
                "{} \"{}\" not found",
                from.source.noun(),
                from.name
            ));
        }
    };
    project_keys(dir, &entries, from.items, mode, from.name)
}

fn service_account_files(
    context: &VolumeContext,
    dir: &Path,
    namespace: &str,
) -> Result<(), String> {
    write_file(&dir.join("token"), context.token.as_bytes(), 0o644)?;
    write_file(&dir.join("ca.crt"), context.ca_pem.as_bytes(), 0o644)?;
    write_file(&dir.join("namespace"), namespace.as_bytes(), 0o644)
}

fn prepare_volume(
    context: &VolumeContext,
    pod: &Value,
    volume: &Volume,
) -> Result<PathBuf, String> {
    let namespace = pod.namespace();
    let store = &context.store;
    let dir = context.pod_dir.join("volumes").join(&volume.name);
    let keys = volume
        .config_map
        .as_ref()
        .map(|c| {
            let from = SourceRef {
                source: Source::ConfigMap,
                name: &c.name,
                optional: c.optional,
                items: c.items.as_ref(),
            };
            (from, c.default_mode)
        })
        .or_else(|| {
            volume.secret.as_ref().map(|c| {
                let from = SourceRef {
                    source: Source::Secret,
                    name: c.secret_name.as_deref().unwrap_or_default(),
                    optional: c.optional,
                    items: c.items.as_ref(),
                };
                (from, c.default_mode)
            })
        });
    if let Some((from, mode)) = keys {
        fresh_dir(&dir, 0o755)?;
        project_source(store, &dir, namespace, &from, mode.unwrap_or(0o644))?;
    } else if let Some(source) = &volume.downward_api {
        fresh_dir(&dir, 0o755)?;
        downward_files(
            &dir,
            pod,
            source.items.as_deref().unwrap_or_default(),
            source.default_mode.unwrap_or(0o644),
        )?;
    } else if let Some(source) = &volume.projected {
        fresh_dir(&dir, 0o755)?;
        let mode = source.default_mode.unwrap_or(0o644);
        for projection in source.sources.iter().flatten() {
            if let Some(p) = &projection.config_map {
                let from = SourceRef {
                    source: Source::ConfigMap,
                    name: &p.name,
                    optional: p.optional,
                    items: p.items.as_ref(),
                };
                project_source(store, &dir, namespace, &from, mode)?;
            }
            if let Some(p) = &projection.secret {
                let from = SourceRef {
                    source: Source::Secret,
                    name: &p.name,
                    optional: p.optional,
                    items: p.items.as_ref(),
                };
                project_source(store, &dir, namespace, &from, mode)?;
            }
            if let Some(p) = &projection.downward_api {
                downward_files(&dir, pod, p.items.as_deref().unwrap_or_default(), mode)?;
            }
            if let Some(p) = &projection.service_account_token {
                write_file(&dir.join(&p.path), context.token.as_bytes(), mode)?;
            }
        }
    } else if let Some(source) = &volume.persistent_volume_claim {
        let claim = store
            .get(
                &ResourceKey::new("", "persistentvolumeclaims"),
                namespace,
                &source.claim_name,
            )
            .ok_or_else(|| format!("persistentvolumeclaim \"{}\" not found", source.claim_name))?;
        let volume_name = claim
            .str_at("/spec/volumeName")
            .map_or_else(|| format!("pvc-{}", claim.uid()), str::to_owned);
        let dir = context.claims_dir.join(volume_name);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| e.to_string())?;
        }
        return Ok(dir);
    } else if let Some(source) = &volume.host_path {
        let path = PathBuf::from(&source.path);
        if !path.exists()
            && matches!(
                source.type_.as_deref(),
                None | Some("" | "DirectoryOrCreate")
            )
        {
            std::fs::create_dir_all(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        return Ok(path);
    } else {
        // emptyDir, ephemeral, and sources kube-sim has no backend for: an empty directory.
        if !dir.exists() {
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(dir)
}

/// Materialises every volume of a pod. Returns the host path of each volume by name, or the
/// message of the first missing source (to retry later).
pub fn prepare(
    context: &VolumeContext,
    pod: &Value,
    typed: &Pod,
) -> Result<HashMap<String, PathBuf>, String> {
    std::fs::create_dir_all(&context.pod_dir)
        .map_err(|e| format!("{}: {e}", context.pod_dir.display()))?;
    let mut paths = HashMap::new();
    let spec = typed.spec.as_ref();
    for volume in spec.and_then(|s| s.volumes.as_ref()).into_iter().flatten() {
        paths.insert(volume.name.clone(), prepare_volume(context, pod, volume)?);
    }
    if automount(&context.store, pod, typed) {
        let dir = context.pod_dir.join("volumes").join(SERVICE_ACCOUNT_VOLUME);
        fresh_dir(&dir, 0o755)?;
        service_account_files(context, &dir, pod.namespace())?;
        paths.insert(SERVICE_ACCOUNT_VOLUME.to_owned(), dir);
    }
    Ok(paths)
}

/// Whether the service account token is mounted (pod setting, else the account's, else yes).
fn automount(store: &Store, pod: &Value, typed: &Pod) -> bool {
    let spec = typed.spec.as_ref();
    if let Some(setting) = spec.and_then(|s| s.automount_service_account_token) {
        return setting;
    }
    let account = spec
        .and_then(|s| s.service_account_name.clone())
        .unwrap_or_else(|| "default".into());
    store
        .get(
            &ResourceKey::new("", "serviceaccounts"),
            pod.namespace(),
            &account,
        )
        .and_then(|sa| {
            sa.get("automountServiceAccountToken")
                .and_then(Value::as_bool)
        })
        .unwrap_or(true)
}

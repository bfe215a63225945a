//! The lock: for every component the exact git commit, chart digest and image digests.
//!
//! Its `id` is the sha256 of the canonical JSON (RFC 8785) of everything else, so the same
//! inputs always give the same id, whatever the order in which they were resolved.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::API_VERSION;
use super::meta::{ObjectMeta, PRODUCT_LABEL};
use super::version_line::VersionLine;

/// A snapshot of a product: what exactly a build deploys.
///
/// Serialised as a resource: `apiVersion`, `kind: Lock`, `metadata` (its id as `name`, its
/// product as label) and `spec` (everything the id is computed from). Locks written before
/// the envelope (flat, with `apiVersion`, `kind`, `product` and `id` beside the components)
/// are still read, with their id checked the way it was computed then.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(into = "LockDocument")]
pub struct Lock {
    /// The product's name.
    pub product: String,
    /// `sha256:…` of the canonical JSON (RFC 8785) of the spec.
    pub id: String,
    /// The product's version line.
    pub version_line: VersionLineText,
    /// The components, sorted by name.
    pub components: Vec<LockedComponent>,
    /// The probe image the product's in-cluster test jobs run.
    pub test_image: Option<PinnedImage>,
}

/// What a lock pins: everything its id is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockSpec {
    /// The product's name.
    pub product: String,
    /// The product's version line, `MAJOR.MINOR`.
    #[schema(value_type = String)]
    pub version_line: VersionLineText,
    /// The components, sorted by name.
    pub components: Vec<LockedComponent>,
    /// The probe image the product's in-cluster test jobs run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_image: Option<PinnedImage>,
}

/// A lock as a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockDocument {
    /// `chorale.dev/v1alpha1`.
    pub api_version: String,
    /// `Lock`.
    pub kind: String,
    /// The id as name, the product as label.
    pub metadata: ObjectMeta,
    /// What it pins.
    pub spec: LockSpec,
}

impl<'de> Deserialize<'de> for Lock {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_value(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

impl From<Lock> for LockDocument {
    fn from(lock: Lock) -> Self {
        Self {
            api_version: API_VERSION.to_owned(),
            kind: "Lock".to_owned(),
            metadata: ObjectMeta::labelled(lock.id, None, PRODUCT_LABEL, &lock.product),
            spec: LockSpec {
                product: lock.product,
                version_line: lock.version_line,
                components: lock.components,
                test_image: lock.test_image,
            },
        }
    }
}

/// A lock as it was written before the envelope; only read.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlatLock {
    api_version: String,
    kind: String,
    product: String,
    id: String,
    version_line: VersionLineText,
    components: Vec<LockedComponent>,
    #[serde(default)]
    test_image: Option<PinnedImage>,
}

/// An image reference and the digest it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PinnedImage {
    /// The reference as the manifest names it.
    pub reference: String,
    /// The manifest (or index) digest.
    pub digest: String,
}

/// A version line written as `"MAJOR.MINOR"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionLineText(pub VersionLine);

impl Serialize for VersionLineText {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for VersionLineText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse()
            .map(Self)
            .map_err(|()| serde::de::Error::custom(format!("`{text}` is not MAJOR.MINOR")))
    }
}

/// One component, pinned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedComponent {
    /// The component's name.
    pub name: String,
    /// The git source, for charts built from git.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<LockedSource>,
    /// The chart.
    pub chart: LockedChart,
    /// Every image, pinned.
    #[serde(default)]
    pub images: Vec<LockedImage>,
    /// Components deployed before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The component's default values (image pins are written over them at deploy time).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    #[schema(value_type = Object)]
    pub values: Map<String, Value>,
}

/// A git source at an exact commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedSource {
    /// The remote.
    pub repository: String,
    /// The ref the manifest names.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The 40-hex commit it resolved to.
    pub commit: String,
    /// The chart folder inside the repository.
    pub chart_path: String,
}

/// A chart, pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedChart {
    /// `name` of Chart.yaml.
    pub name: String,
    /// The version (for charts built from git: Chart.yaml's version with `+git.<commit>`).
    pub version: String,
    /// Charts from git: sha256 of the reproducible .tgz; charts from OCI: the manifest digest.
    pub digest: String,
    /// Charts from OCI: `oci://host/path/name` they were resolved in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repository: Option<String>,
}

/// An image pinned by digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LockedImage {
    /// The reference as the manifest names it.
    pub reference: String,
    /// The manifest (or index) digest it resolved to.
    pub digest: String,
    /// The values prefix that receives `repository` and `digest`.
    pub values: String,
}

impl LockedImage {
    /// `host/path` without tag or digest.
    pub fn repository(&self) -> &str {
        image_repository(&self.reference)
    }
}

impl PinnedImage {
    /// `host/path` without tag or digest.
    pub fn repository(&self) -> &str {
        image_repository(&self.reference)
    }
}

/// The `host/path` of an image reference, without tag or digest.
fn image_repository(reference: &str) -> &str {
    let without_digest = reference.split('@').next().unwrap_or_default();
    // A tag is the text after the last `:` that follows the last `/`.
    match without_digest.rfind(':') {
        Some(colon) if colon > without_digest.rfind('/').unwrap_or(0) => &without_digest[..colon],
        _ => without_digest,
    }
}

impl Lock {
    /// A lock of `components` (sorted here) with its id computed.
    pub fn new(
        product: &str,
        version_line: VersionLine,
        mut components: Vec<LockedComponent>,
        test_image: Option<PinnedImage>,
    ) -> Self {
        components.sort_by(|a, b| a.name.cmp(&b.name));
        let mut lock = Self {
            product: product.to_owned(),
            id: String::new(),
            version_line: VersionLineText(version_line),
            components,
            test_image,
        };
        lock.id = lock.compute_id();
        lock
    }

    /// The id the content gives, whatever `id` currently says.
    pub fn compute_id(&self) -> String {
        canonical_id(&LockDocument::from(self.clone()).spec)
    }

    /// Parse a lock (the resource, or the flat form of earlier versions) and check that its id
    /// matches its content.
    pub fn from_json(text: &[u8]) -> Result<Self, String> {
        Self::from_value(serde_json::from_slice(text).map_err(|e| e.to_string())?)
    }

    fn from_value(value: Value) -> Result<Self, String> {
        let (lock, expected) = if value.get("spec").is_some() {
            let document: LockDocument =
                serde_json::from_value(value).map_err(|e| e.to_string())?;
            is_lock(&document.api_version, &document.kind)?;
            let expected = canonical_id(&document.spec);
            let spec = document.spec;
            let lock = Self {
                product: spec.product,
                id: document.metadata.name,
                version_line: spec.version_line,
                components: spec.components,
                test_image: spec.test_image,
            };
            (lock, expected)
        } else {
            let mut flat: Value = value.clone();
            flat.as_object_mut()
                .ok_or("a lock is a JSON object")?
                .remove("id");
            let lock: FlatLock = serde_json::from_value(value).map_err(|e| e.to_string())?;
            is_lock(&lock.api_version, &lock.kind)?;
            let lock = Self {
                product: lock.product,
                id: lock.id,
                version_line: lock.version_line,
                components: lock.components,
                test_image: lock.test_image,
            };
            (lock, canonical_id(&flat))
        };
        if lock.id == expected {
            Ok(lock)
        } else {
            Err(format!(
                "its id {} does not match its content ({expected}); the lock was edited",
                lock.id
            ))
        }
    }

    /// Whether `other` pins what this lock pins, but for the repository commits its charts
    /// were read from: the same charts (their versions and digests name their folders'
    /// content), images, values and order. A commit elsewhere in a chart's repository moves the
    /// commit, and so the lock id, but deploys nothing new.
    pub fn pins_the_same_as(&self, other: &Lock) -> bool {
        let without_commits = |lock: &Lock| {
            let mut lock = lock.clone();
            lock.id.clear();
            for source in lock.components.iter_mut().filter_map(|c| c.source.as_mut()) {
                source.commit.clear();
            }
            lock
        };
        without_commits(self) == without_commits(other)
    }

    /// The component called `name`.
    pub fn component(&self, name: &str) -> Option<&LockedComponent> {
        self.components.iter().find(|c| c.name == name)
    }

    /// Every image reference of the lock (the test image too) with the digest it had.
    pub fn image_digests(&self) -> HashMap<&str, &str> {
        self.components
            .iter()
            .flat_map(|c| {
                c.images
                    .iter()
                    .map(|i| (i.reference.as_str(), i.digest.as_str()))
            })
            .chain(
                self.test_image
                    .iter()
                    .map(|i| (i.reference.as_str(), i.digest.as_str())),
            )
            .collect()
    }
}

impl LockedComponent {
    /// The values file the component is deployed with: its defaults with every image written
    /// at its prefix as `repository` and `digest` (and an empty `tag`).
    pub fn deploy_values(&self) -> Value {
        let mut values = Value::Object(self.values.clone());
        for image in &self.images {
            let mut node = &mut values;
            for key in image.values.split('.') {
                let map = ensure_object(node);
                node = map
                    .entry(key.to_owned())
                    .or_insert_with(|| Value::Object(Map::new()));
            }
            let map = ensure_object(node);
            map.insert("repository".to_owned(), Value::from(image.repository()));
            map.insert("digest".to_owned(), Value::from(image.digest.as_str()));
            map.insert("tag".to_owned(), Value::from(""));
        }
        values
    }
}

fn is_lock(api_version: &str, kind: &str) -> Result<(), String> {
    if kind == "Lock" && api_version == API_VERSION {
        Ok(())
    } else {
        Err(format!(
            "it is a {kind} of {api_version}, not a Lock of {API_VERSION}"
        ))
    }
}

/// `sha256:…` of the canonical JSON (RFC 8785) of `value`.
fn canonical_id(value: &impl Serialize) -> String {
    let canonical = serde_json_canonicalizer::to_vec(value).expect("JSON values canonicalise");
    chorale_runners::digest::sha256(&canonical)
}

fn ensure_object(node: &mut Value) -> &mut Map<String, Value> {
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    node.as_object_mut().expect("just made an object")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(name: &str) -> LockedComponent {
        LockedComponent {
            name: name.to_owned(),
            source: None,
            chart: LockedChart {
                name: name.to_owned(),
                version: "1.0.0".to_owned(),
                digest: format!("sha256:{}", "a".repeat(64)),
                repository: None,
            },
            images: vec![LockedImage {
                reference: "127.0.0.1:5000/demo/db:main".to_owned(),
                digest: format!("sha256:{}", "b".repeat(64)),
                values: "deps.image".to_owned(),
            }],
            depends_on: vec![],
            values: Map::new(),
        }
    }

    #[test]
    fn the_id_depends_on_content_not_order() {
        let line = VersionLine { major: 1, minor: 0 };
        let a = Lock::new("demo", line, vec![component("db"), component("api")], None);
        let b = Lock::new("demo", line, vec![component("api"), component("db")], None);
        assert_eq!(a.id, b.id);
        assert_eq!(a.components[0].name, "api");
        let c = Lock::new("demo", line, vec![component("api")], None);
        assert_ne!(a.id, c.id);
        let text = serde_json::to_vec(&a).unwrap();
        assert_eq!(Lock::from_json(&text).unwrap(), a);
        let tampered = String::from_utf8(text).unwrap().replace("1.0.0", "1.0.1");
        assert!(
            Lock::from_json(tampered.as_bytes())
                .unwrap_err()
                .contains("was edited")
        );
    }

    #[test]
    fn a_lock_is_a_resource_and_the_flat_form_of_earlier_versions_still_reads() {
        let line = VersionLine { major: 1, minor: 2 };
        let lock = Lock::new("demo", line, vec![component("db")], None);
        let document = serde_json::to_value(&lock).unwrap();
        assert_eq!(document["kind"], "Lock");
        assert_eq!(document["metadata"]["name"], lock.id.as_str());
        assert_eq!(
            document["metadata"]["labels"]["chorale.dev/product"],
            "demo"
        );
        assert_eq!(document["spec"]["versionLine"], "1.2");
        assert_eq!(document["spec"]["components"][0]["name"], "db");

        // The flat form, its id computed over everything but the id, as earlier versions did.
        let mut flat = serde_json::json!({
            "apiVersion": API_VERSION, "kind": "Lock", "product": "demo",
            "versionLine": "1.2", "components": document["spec"]["components"],
        });
        let id = canonical_id(&flat);
        flat["id"] = Value::from(id.clone());
        let read = Lock::from_json(flat.to_string().as_bytes()).unwrap();
        assert_eq!(
            (read.id.as_str(), read.components),
            (id.as_str(), lock.components)
        );
        flat["product"] = Value::from("other");
        assert!(
            Lock::from_json(flat.to_string().as_bytes())
                .unwrap_err()
                .contains("was edited")
        );

        let mut wrong = document;
        wrong["kind"] = Value::from("Bundle");
        assert!(
            Lock::from_json(wrong.to_string().as_bytes())
                .unwrap_err()
                .contains("not a Lock")
        );
    }

    #[test]
    fn deploy_values_pin_images_at_their_prefix() {
        let mut c = component("api");
        c.values.insert("replicas".to_owned(), Value::from(2));
        c.values.insert("deps".to_owned(), Value::from("not a map"));
        let values = c.deploy_values();
        assert_eq!(values["replicas"], 2);
        assert_eq!(
            values["deps"]["image"]["repository"],
            "127.0.0.1:5000/demo/db"
        );
        assert_eq!(
            values["deps"]["image"]["digest"],
            format!("sha256:{}", "b".repeat(64))
        );
    }

    #[test]
    fn repositories_drop_tags_and_digests_but_keep_ports() {
        let image = |r: &str| LockedImage {
            reference: r.to_owned(),
            digest: String::new(),
            values: String::new(),
        };
        assert_eq!(
            image("127.0.0.1:5000/demo/db:main").repository(),
            "127.0.0.1:5000/demo/db"
        );
        assert_eq!(
            image("127.0.0.1:5000/demo/db").repository(),
            "127.0.0.1:5000/demo/db"
        );
        assert_eq!(image("reg.io/a/b:1@sha256:00").repository(), "reg.io/a/b");
    }
}

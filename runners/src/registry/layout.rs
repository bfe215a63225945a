//! An OCI image layout on disk (<https://github.com/opencontainers/image-spec/blob/main/image-layout.md>):
//! `oci-layout`, `index.json` and `blobs/sha256/…`, readable by `skopeo inspect oci:DIR:TAG`.
//!
//! Blobs are written to a temporary name and renamed, and `index.json` is replaced atomically
//! under an exclusive file lock, so a reader never sees a half-written blob or index and a tag
//! moves only after everything it points at is on disk.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::errors::RegistryError;

const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// One OCI image layout folder.
#[derive(Debug, Clone)]
pub struct OciLayout {
    root: PathBuf,
}

impl OciLayout {
    /// The layout at `root`, created (with its `oci-layout` marker and an empty index) if needed.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, RegistryError> {
        let layout = Self { root: root.into() };
        let blobs = layout.root.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).map_err(|e| layout.error(&e))?;
        let marker = layout.root.join("oci-layout");
        if !marker.exists() {
            write_atomically(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(|e| layout.error(&e))?;
        }
        if !layout.index_path().exists() {
            let empty = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": []});
            write_atomically(&layout.index_path(), empty.to_string().as_bytes())
                .map_err(|e| layout.error(&e))?;
        }
        Ok(layout)
    }

    /// The folder of the layout.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    fn blob_path(&self, digest: &str) -> Result<PathBuf, RegistryError> {
        let hex = digest
            .strip_prefix("sha256:")
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(|| RegistryError::Layout {
                path: self.root.clone(),
                message: format!("`{digest}` is not a sha256 digest"),
            })?;
        Ok(self.root.join("blobs").join("sha256").join(hex))
    }

    fn error(&self, error: &dyn std::fmt::Display) -> RegistryError {
        RegistryError::Layout {
            path: self.root.clone(),
            message: error.to_string(),
        }
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, digest: &str) -> Result<bool, RegistryError> {
        Ok(self.blob_path(digest)?.exists())
    }

    /// Write a blob after checking that `data` has that digest.
    pub fn put_blob(&self, digest: &str, data: &[u8]) -> Result<(), RegistryError> {
        let actual = crate::digest::sha256(data);
        if actual != digest {
            return Err(self.error(&format!(
                "blob content has digest {actual}, not the announced {digest}"
            )));
        }
        write_atomically(&self.blob_path(digest)?, data).map_err(|e| self.error(&e))
    }

    /// Read a blob, verifying its digest.
    pub fn read_blob(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let data = std::fs::read(self.blob_path(digest)?).map_err(|e| self.error(&e))?;
        if crate::digest::sha256(&data) == digest {
            Ok(data)
        } else {
            Err(self.error(&format!("blob {digest} is corrupt")))
        }
    }

    /// Store a manifest blob and point `tag` at it (moving the tag if it existed).
    /// Returns the manifest digest.
    pub fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<String, RegistryError> {
        let digest = crate::digest::sha256(bytes);
        self.put_blob(&digest, bytes)?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.root.join(".index.lock"))
            .map_err(|e| self.error(&e))?;
        lock.lock().map_err(|e| self.error(&e))?;
        let mut index = self.read_index()?;
        let manifests = index["manifests"]
            .as_array_mut()
            .ok_or_else(|| self.error(&"index.json has no manifests array"))?;
        manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(tag));
        manifests.push(json!({
            "mediaType": media_type,
            "digest": digest,
            "size": bytes.len(),
            "annotations": { REF_NAME: tag },
        }));
        write_atomically(&self.index_path(), index.to_string().as_bytes())
            .map_err(|e| self.error(&e))?;
        Ok(digest)
    }

    /// The digest `tag` points at.
    pub fn resolve(&self, tag: &str) -> Result<Option<String>, RegistryError> {
        let index = self.read_index()?;
        Ok(index["manifests"].as_array().and_then(|ms| {
            ms.iter()
                .find(|m| m["annotations"][REF_NAME].as_str() == Some(tag))
                .and_then(|m| m["digest"].as_str().map(str::to_owned))
        }))
    }

    fn read_index(&self) -> Result<Value, RegistryError> {
        let text = std::fs::read(self.index_path()).map_err(|e| self.error(&e))?;
        serde_json::from_slice(&text).map_err(|e| self.error(&e))
    }
}

/// Write `data` to `path` through a temporary file in the same folder and a rename.
fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(data)?;
    file.as_file().sync_all()?;
    file.persist(path).map(drop).map_err(|e| e.error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_move_and_blobs_verify() {
        let dir = tempfile::tempdir().unwrap();
        let layout = OciLayout::open(dir.path().join("demo")).unwrap();
        let blob = b"hello";
        let digest = crate::digest::sha256(blob);
        assert!(!layout.has_blob(&digest).unwrap());
        layout.put_blob(&digest, blob).unwrap();
        assert!(layout.has_blob(&digest).unwrap());
        assert_eq!(layout.read_blob(&digest).unwrap(), blob);
        let wrong = layout
            .put_blob(&crate::digest::sha256(b"other"), blob)
            .unwrap_err();
        assert!(wrong.to_string().contains("not the announced"), "{wrong}");

        let first = layout
            .put_manifest("latest", "application/json", b"{\"a\":1}")
            .unwrap();
        let second = layout
            .put_manifest("latest", "application/json", b"{\"a\":2}")
            .unwrap();
        layout
            .put_manifest("build-1", "application/json", b"{\"a\":1}")
            .unwrap();
        assert_eq!(layout.resolve("latest").unwrap(), Some(second));
        assert_eq!(layout.resolve("build-1").unwrap(), Some(first));
        assert_eq!(layout.resolve("nope").unwrap(), None);
        let index: Value =
            serde_json::from_slice(&std::fs::read(dir.path().join("demo/index.json")).unwrap())
                .unwrap();
        assert_eq!(index["manifests"].as_array().unwrap().len(), 2);
    }
}

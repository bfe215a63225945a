//! One interface over the two places OCI content is kept: the repositories of a registry under
//! a base path ([`RegistryStore`]), and OCI image layouts under a folder ([`LayoutStore`]).
//! Bundles are pushed into an [`OciStore`] and read back from one, whichever it is.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::FutureExt as _;
use futures::future::BoxFuture;

use super::layout::OciLayout;
use super::{RegistryClient, parse_reference};
use crate::errors::RegistryError;

/// Where OCI repositories are kept, each named relative to the store (`demo`, `charts/db`).
pub trait OciStore: std::fmt::Debug + Send + Sync {
    /// How people and tools write repository `name`: `host[:port]/path/NAME` or
    /// `oci:DIR/NAME`.
    fn repository(&self, name: &str) -> String;

    /// The store itself, for messages: `host[:port]/path` or `oci:DIR`.
    fn describe(&self) -> String;

    /// Make sure blob `digest` is in repository `name`, linked from repository `from` (where
    /// it was just stored) when the store can; returns the bytes uploaded.
    fn ensure_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
        data: &'a Bytes,
        from: Option<&'a str>,
    ) -> BoxFuture<'a, Result<u64, RegistryError>>;

    /// Whether `reference` (a tag, or `@digest`) of repository `name` names the manifest
    /// `digest` (then the manifest and every blob it references are there).
    fn has_manifest<'a>(
        &'a self,
        name: &'a str,
        reference: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<bool, RegistryError>>;

    /// The digest of the manifest `tag` of repository `name` names, if the tag exists.
    fn tagged<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, RegistryError>>;

    /// Make blob `digest` present in repository `name` without its bytes, if that can be done:
    /// it is there already, or (same registry) it can be mounted from the repository `from`
    /// (written in full, as [`repository`](Self::repository) gives it). Whether it is there now.
    fn link_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
        from: &'a str,
    ) -> BoxFuture<'a, Result<bool, RegistryError>>;

    /// Store manifest `bytes` in repository `name` under `tag`; returns its digest.
    fn put_manifest<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
        media_type: &'a str,
        bytes: &'a Bytes,
    ) -> BoxFuture<'a, Result<String, RegistryError>>;

    /// The manifest `digest` of repository `name`.
    fn read_manifest<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, RegistryError>>;

    /// The blob `digest` of repository `name`.
    fn read_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, RegistryError>>;
}

/// The repositories of a registry under `base` (`host[:port]/path`).
#[derive(Debug, Clone)]
pub struct RegistryStore {
    client: RegistryClient,
    base: String,
}

impl RegistryStore {
    /// Repositories under `base` (`host[:port]/path`), reached with `client`.
    pub fn new(client: RegistryClient, base: impl Into<String>) -> Self {
        Self {
            client,
            base: base.into(),
        }
    }
}

/// OCI image layouts under a folder, one per repository (`ROOT/NAME`).
#[derive(Debug, Clone)]
pub struct LayoutStore {
    root: PathBuf,
}

impl LayoutStore {
    /// Layouts under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    fn layout(&self, name: &str) -> Result<OciLayout, RegistryError> {
        OciLayout::open(self.root.join(name))
    }
}

/// The store that holds `repository` (`oci:DIR/NAME` or `host[:port]/path/NAME`) and the
/// repository's name in it.
pub fn open_repository(
    repository: &str,
    client: &RegistryClient,
) -> Result<(Box<dyn OciStore>, String), RegistryError> {
    if let Some(path) = repository.strip_prefix("oci:") {
        let path = Path::new(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let root = path.parent().unwrap_or(Path::new("."));
        return Ok((Box::new(LayoutStore::new(root)), name));
    }
    parse_reference(repository)?;
    let (base, name) =
        repository
            .rsplit_once('/')
            .ok_or_else(|| RegistryError::InvalidReference {
                reference: repository.to_owned(),
                message: "a repository needs a registry host and a path".to_owned(),
            })?;
    Ok((
        Box::new(RegistryStore::new(client.clone(), base)),
        name.to_owned(),
    ))
}

impl OciStore for RegistryStore {
    fn repository(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    fn describe(&self) -> String {
        self.base.clone()
    }

    fn ensure_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
        data: &'a Bytes,
        from: Option<&'a str>,
    ) -> BoxFuture<'a, Result<u64, RegistryError>> {
        async move {
            let repository = parse_reference(&self.repository(name))?;
            let from = from
                .map(|from| parse_reference(&self.repository(from)))
                .transpose()?;
            self.client
                .put_blob(&repository, digest, data.clone(), from.as_ref())
                .await
        }
        .boxed()
    }

    fn has_manifest<'a>(
        &'a self,
        name: &'a str,
        reference: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<bool, RegistryError>> {
        async move {
            let separator = if reference.starts_with('@') { "" } else { ":" };
            let target =
                parse_reference(&format!("{}{separator}{reference}", self.repository(name)))?;
            match self.client.resolve_digest(&target).await {
                Ok(found) => Ok(found == digest),
                Err(RegistryError::NotFound { .. }) => Ok(false),
                Err(other) => Err(other),
            }
        }
        .boxed()
    }

    fn tagged<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, RegistryError>> {
        async move {
            let target = parse_reference(&format!("{}:{tag}", self.repository(name)))?;
            match self.client.resolve_digest(&target).await {
                Ok(found) => Ok(Some(found)),
                Err(RegistryError::NotFound { .. }) => Ok(None),
                Err(other) => Err(other),
            }
        }
        .boxed()
    }

    fn link_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
        from: &'a str,
    ) -> BoxFuture<'a, Result<bool, RegistryError>> {
        async move {
            let repository = parse_reference(&self.repository(name))?;
            let same_registry = parse_reference(from)
                .ok()
                .filter(|from| from.resolve_registry() == repository.resolve_registry());
            if let Some(from) = same_registry
                && self.client.mount_blob(&repository, &from, digest).await?
            {
                return Ok(true);
            }
            self.client.has_blob(&repository, digest).await
        }
        .boxed()
    }

    fn put_manifest<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
        media_type: &'a str,
        bytes: &'a Bytes,
    ) -> BoxFuture<'a, Result<String, RegistryError>> {
        async move {
            let reference = parse_reference(&format!("{}:{tag}", self.repository(name)))?;
            self.client
                .push_manifest(&reference, media_type, bytes.clone())
                .await
        }
        .boxed()
    }

    fn read_manifest<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, RegistryError>> {
        async move {
            let pinned = parse_reference(&format!("{}@{digest}", self.repository(name)))?;
            Ok(self.client.pull_manifest(&pinned).await?.bytes.to_vec())
        }
        .boxed()
    }

    fn read_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, RegistryError>> {
        async move {
            let repository = parse_reference(&self.repository(name))?;
            self.client.pull_blob(&repository, digest).await
        }
        .boxed()
    }
}

impl OciStore for LayoutStore {
    fn repository(&self, name: &str) -> String {
        format!("oci:{}", self.root.join(name).display())
    }

    fn describe(&self) -> String {
        format!("oci:{}", self.root.display())
    }

    fn ensure_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
        data: &'a Bytes,
        _from: Option<&'a str>,
    ) -> BoxFuture<'a, Result<u64, RegistryError>> {
        async move {
            let layout = self.layout(name)?;
            if layout.has_blob(digest)? {
                return Ok(0);
            }
            layout.put_blob(digest, data)?;
            Ok(data.len() as u64)
        }
        .boxed()
    }

    fn has_manifest<'a>(
        &'a self,
        name: &'a str,
        reference: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<bool, RegistryError>> {
        async move {
            let layout = self.layout(name)?;
            Ok(match reference.strip_prefix('@') {
                Some(_) => layout.has_blob(digest)?,
                None => layout.resolve(reference)?.as_deref() == Some(digest),
            })
        }
        .boxed()
    }

    fn tagged<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, RegistryError>> {
        async move { self.layout(name)?.resolve(tag) }.boxed()
    }

    fn link_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
        _from: &'a str,
    ) -> BoxFuture<'a, Result<bool, RegistryError>> {
        async move { self.layout(name)?.has_blob(digest) }.boxed()
    }

    fn put_manifest<'a>(
        &'a self,
        name: &'a str,
        tag: &'a str,
        media_type: &'a str,
        bytes: &'a Bytes,
    ) -> BoxFuture<'a, Result<String, RegistryError>> {
        async move { self.layout(name)?.put_manifest(tag, media_type, bytes) }.boxed()
    }

    fn read_manifest<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, RegistryError>> {
        self.read_blob(name, digest)
    }

    fn read_blob<'a>(
        &'a self,
        name: &'a str,
        digest: &'a str,
    ) -> BoxFuture<'a, Result<Vec<u8>, RegistryError>> {
        async move { self.layout(name)?.read_blob(digest) }.boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryOptions;

    #[test]
    fn a_repository_names_its_store() {
        let client = RegistryClient::new(RegistryOptions::default());
        let (store, name) = open_repository("oci:/state/oci/demo", &client).unwrap();
        assert_eq!(
            (store.describe(), name.as_str()),
            ("oci:/state/oci".to_owned(), "demo")
        );
        assert_eq!(store.repository("charts/db"), "oci:/state/oci/charts/db");
        let (store, name) = open_repository("127.0.0.1:5000/chorale/demo", &client).unwrap();
        assert_eq!(
            (store.describe(), name.as_str()),
            ("127.0.0.1:5000/chorale".to_owned(), "demo")
        );
        assert_eq!(store.repository("demo"), "127.0.0.1:5000/chorale/demo");
    }
}

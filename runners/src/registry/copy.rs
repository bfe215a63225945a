//! Tagging a manifest that already exists somewhere into another repository, registry or
//! image layout without re-assembling it: the manifest's exact bytes are written under the new
//! tag (so its digest stays the same), and each blob it references is linked rather than
//! uploaded whenever the destination can (it is there already, or a registry mounts it from
//! the source repository); only blobs the destination cannot link are read and sent.
//!
//! A tag is never moved: [`tag_state`] tells whether a tag is free, names the digest already,
//! or names another one, so that a caller checks every tag before writing any.

use bytes::Bytes;
use serde_json::Value;

use super::{MANIFEST_MEDIA_TYPES, OciStore, RegistryClient, open_repository};
use crate::errors::RegistryError;

/// What a tag of a repository names, against the digest it should name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagState {
    /// No such tag.
    Free,
    /// It names the digest already.
    Same,
    /// It names this other digest.
    Elsewhere(String),
}

/// What writing a tag did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Copied {
    /// Whether the tag was written (it did not name the digest yet).
    pub tagged: bool,
    /// Blobs found in the destination or mounted there, without sending their bytes.
    pub blobs_linked: u32,
    /// Blobs that had to be read and sent.
    pub blobs_sent: u32,
    /// Blob bytes sent.
    pub bytes_sent: u64,
}

/// What `tag` of `repository` (`host[:port]/path` or `oci:DIR`) names, against `digest`.
pub async fn tag_state(
    client: &RegistryClient,
    repository: &str,
    tag: &str,
    digest: &str,
) -> Result<TagState, RegistryError> {
    let (store, name) = open_repository(repository, client)?;
    Ok(match store.tagged(&name, tag).await? {
        None => TagState::Free,
        Some(found) if found == digest => TagState::Same,
        Some(found) => TagState::Elsewhere(found),
    })
}

/// Make `to:tag` name the manifest `digest` of the repository `from`, with the same bytes;
/// nothing is written when it does already. The caller checks with [`tag_state`] first that
/// the tag does not name another manifest: this writes over it.
pub async fn copy_to_tag(
    client: &RegistryClient,
    from: &str,
    digest: &str,
    to: &str,
    tag: &str,
) -> Result<Copied, RegistryError> {
    let (source, source_name) = open_repository(from, client)?;
    let (destination, name) = open_repository(to, client)?;
    let mut copied = Copied::default();
    if destination.tagged(&name, tag).await?.as_deref() == Some(digest) {
        return Ok(copied);
    }
    let bytes = Bytes::from(source.read_manifest(&source_name, digest).await?);
    let manifest: Value = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Protocol {
        reference: format!("{from}@{digest}"),
        message: format!("the manifest is not JSON: {e}"),
    })?;
    if manifest.get("manifests").is_some() {
        return Err(RegistryError::Protocol {
            reference: format!("{from}@{digest}"),
            message: "an image index is not copied by tag; copy its manifests".to_owned(),
        });
    }
    if !destination
        .has_manifest(&name, &format!("@{digest}"), digest)
        .await?
    {
        let blobs = manifest["config"]["digest"].as_str().into_iter().chain(
            manifest["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l["digest"].as_str()),
        );
        for blob in blobs {
            copy_blob(
                &*source,
                &source_name,
                &*destination,
                &name,
                blob,
                &mut copied,
            )
            .await?;
        }
    }
    let media_type = manifest["mediaType"]
        .as_str()
        .unwrap_or(MANIFEST_MEDIA_TYPES[0]);
    destination
        .put_manifest(&name, tag, media_type, &bytes)
        .await?;
    copied.tagged = true;
    Ok(copied)
}

/// Make blob `digest` of `source_name` present in `name` of `destination`: linked if it can
/// be, else read and sent.
async fn copy_blob(
    source: &dyn OciStore,
    source_name: &str,
    destination: &dyn OciStore,
    name: &str,
    digest: &str,
    copied: &mut Copied,
) -> Result<(), RegistryError> {
    if destination
        .link_blob(name, digest, &source.repository(source_name))
        .await?
    {
        copied.blobs_linked += 1;
        return Ok(());
    }
    let data = Bytes::from(source.read_blob(source_name, digest).await?);
    copied.bytes_sent += destination.ensure_blob(name, digest, &data, None).await?;
    copied.blobs_sent += 1;
    Ok(())
}

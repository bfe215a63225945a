//! Tagging a manifest that already exists somewhere into another repository, registry or
//! image layout without re-assembling it: the manifest's exact bytes are written under the new
//! tag (so its digest stays the same), and each blob it references is linked rather than
//! uploaded whenever the destination can (it is there already, or a registry mounts it from
//! the source repository); only blobs the destination cannot link are read and sent.
//!
//! A tag is never moved: [`tag_state`] tells whether a tag is free, names the digest already,
//! or names another one, so that a caller checks every tag before writing any.

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};
use serde_json::Value;

use super::{MANIFEST_MEDIA_TYPES, OciStore, RegistryClient, open_repository};
use crate::errors::RegistryError;

/// How many blobs of one manifest are linked or copied at once.
const BLOBS_IN_FLIGHT: usize = 16;

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

/// Make `to:tag` name the manifest `digest` of the repository `from`, with the same bytes,
/// given `state`, what [`tag_state`] found the tag to name (the caller checks every tag before
/// writing any, so asking again would only repeat a request): nothing is done when it names
/// the digest already, and a tag that names another manifest is written over.
///
/// Requests, for a tag to write: the manifest read from `from` by digest; when `to` is another
/// repository, a `HEAD` of the digest there (a promotion finds it and links nothing), else a
/// link per blob (found there, or mounted from `from` on the same registry) or a read and an
/// upload (another registry), up to 16 blobs at once; then the manifest written under the tag.
pub async fn copy_to_tag(
    client: &RegistryClient,
    from: &str,
    digest: &str,
    to: &str,
    tag: &str,
    state: &TagState,
) -> Result<Copied, RegistryError> {
    let mut copied = Copied::default();
    if *state == TagState::Same {
        return Ok(copied);
    }
    let (source, source_name) = open_repository(from, client)?;
    let (destination, name) = open_repository(to, client)?;
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
    // The source repository holds the manifest and its blobs: tagging it there links nothing.
    let in_place = source.repository(&source_name) == destination.repository(&name);
    if !in_place
        && !destination
            .has_manifest(&name, &format!("@{digest}"), digest)
            .await?
    {
        let blobs: Vec<String> = manifest["config"]["digest"]
            .as_str()
            .into_iter()
            .chain(
                manifest["layers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|l| l["digest"].as_str()),
            )
            .map(str::to_owned)
            .collect();
        let (source, destination) = (&*source, &*destination);
        let (source_name, name) = (source_name.as_str(), name.as_str());
        copied =
            futures::stream::iter(blobs)
                .map(|blob| async move {
                    copy_blob(source, source_name, destination, name, &blob).await
                })
                .buffer_unordered(BLOBS_IN_FLIGHT)
                .try_fold(copied, |sum, one| async move {
                    Ok(Copied {
                        tagged: false,
                        blobs_linked: sum.blobs_linked + one.blobs_linked,
                        blobs_sent: sum.blobs_sent + one.blobs_sent,
                        bytes_sent: sum.bytes_sent + one.bytes_sent,
                    })
                })
                .await?;
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
/// be, else read and sent. What it did, for that one blob.
async fn copy_blob(
    source: &dyn OciStore,
    source_name: &str,
    destination: &dyn OciStore,
    name: &str,
    digest: &str,
) -> Result<Copied, RegistryError> {
    if destination
        .link_blob(name, digest, &source.repository(source_name))
        .await?
    {
        return Ok(Copied {
            blobs_linked: 1,
            ..Copied::default()
        });
    }
    let data = Bytes::from(source.read_blob(source_name, digest).await?);
    Ok(Copied {
        blobs_sent: 1,
        bytes_sent: destination.ensure_blob(name, digest, &data, None).await?,
        ..Copied::default()
    })
}

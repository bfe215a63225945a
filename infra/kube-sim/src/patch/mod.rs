//! The four patch types of the Kubernetes API: JSON patch, JSON merge patch, strategic merge
//! patch and (approximated) server-side apply.

mod strategic;

use serde_json::Value;

use crate::errors::ApiError;

pub use strategic::strategic_merge;

/// A patch media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchKind {
    /// The patch type of a `Content-Type` header value.
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/json-patch+json" => Some(Self::Json),
            "application/merge-patch+json" => Some(Self::Merge),
            "application/strategic-merge-patch+json" => Some(Self::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => Some(Self::Apply),
            _ => None,
        }
    }
}

/// A parsed patch.
#[derive(Debug, Clone)]
pub enum Patch {
    /// RFC 6902 operations.
    Json(json_patch::Patch),
    /// RFC 7386 document.
    Merge(Value),
    /// Strategic merge document.
    Strategic(Value),
    /// The applied configuration.
    Apply(Value),
}

/// Parses a patch body.
pub fn parse(kind: PatchKind, body: &[u8]) -> Result<Patch, ApiError> {
    let bad = |e: &dyn std::fmt::Display| {
        ApiError::bad_request(format!("the patch could not be read: {e}"))
    };
    Ok(match kind {
        PatchKind::Json => Patch::Json(serde_json::from_slice(body).map_err(|e| bad(&e))?),
        PatchKind::Merge => Patch::Merge(serde_json::from_slice(body).map_err(|e| bad(&e))?),
        PatchKind::Strategic => {
            Patch::Strategic(serde_json::from_slice(body).map_err(|e| bad(&e))?)
        }
        PatchKind::Apply => {
            let text = std::str::from_utf8(body).map_err(|e| bad(&e))?;
            let value: Value = serde_saphyr::from_str(text).map_err(|e| bad(&e))?;
            if !value.is_object() {
                return Err(ApiError::bad_request(
                    "the applied configuration is not an object",
                ));
            }
            Patch::Apply(value)
        }
    })
}

impl Patch {
    /// Applies the patch to an object.
    pub fn apply(&self, current: &Value) -> Result<Value, ApiError> {
        let mut next = current.clone();
        match self {
            Self::Json(ops) => json_patch::patch(&mut next, ops).map_err(|e| {
                ApiError::unprocessable(format!("the JSON patch could not be applied: {e}"))
            })?,
            Self::Merge(doc) => json_patch::merge(&mut next, doc),
            Self::Strategic(doc) | Self::Apply(doc) => {
                let kind = current.get("kind").and_then(Value::as_str).unwrap_or("");
                strategic_merge(kind, &mut next, doc)?;
            }
        }
        if !next.is_object() {
            return Err(ApiError::bad_request(
                "the patch turned the object into something else than an object",
            ));
        }
        Ok(next)
    }
}

//! Registering products with the service: a manifest sent as one body (YAML or JSON; its
//! components inline, or as further `Component` documents of a multi-document body), checked
//! exactly as `chorale validate` checks a file, and stored with a generation number. The stored
//! manifest is what the service's builds use: it is written out as files for each build.
//!
//! In a multi-document body, every document after the product is a `Component`; the product
//! names one with `- file: components/NAME.yaml`, NAME being its `metadata.name`.

use std::path::{Path, PathBuf};

use crate::context::Context;
use crate::errors::{Error, ManifestError, ManifestErrors};
use crate::manifest::{Product, load_product};
use crate::resources::access::{AuditEvent, Identity, Role};
use crate::resources::occurrence::Occurrence;
use crate::resources::product::ProductRecord;

use super::access::authorize;

/// What the errors of a registered manifest name as their file.
pub const BODY: &str = "body";

/// One document of a body, with the line it starts on.
pub(crate) struct Document<'a> {
    /// Its text.
    pub text: &'a str,
    /// Its first line in the body, from 1.
    pub first_line: u64,
}

/// The documents of a YAML stream, split at `---` lines.
pub(crate) fn documents(body: &str) -> Vec<Document<'_>> {
    let mut documents = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (line_number, line) in (1..).zip(body.split_inclusive('\n')) {
        if line.trim_end() == "---" || line.starts_with("--- ") {
            let text = &body[start..offset];
            if !text.trim().is_empty() {
                documents.push(Document { text, first_line });
            }
            start = offset + line.len();
            first_line = line_number + 1;
        }
        offset += line.len();
    }
    let text = &body[start..];
    if !text.trim().is_empty() {
        documents.push(Document { text, first_line });
    }
    documents
}

fn body_error(line: u64, message: String) -> Error {
    Error::Manifest(ManifestErrors(vec![ManifestError {
        file: PathBuf::from(BODY),
        line,
        column: 1,
        message,
    }]))
}

/// Write `body` as the files of a product into `dir` and load it: the product checked as
/// `chorale validate` checks it, every error naming `body:LINE:COL`.
pub fn write_and_load(body: &str, dir: &Path) -> Result<Product, Error> {
    let documents = documents(body);
    let Some((product, components)) = documents.split_first() else {
        return Err(body_error(1, "the body holds no manifest".to_owned()));
    };
    let io = |path: &Path, source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let components_dir = dir.join("components");
    std::fs::create_dir_all(&components_dir).map_err(|e| io(&components_dir, e))?;
    let product_file = dir.join("product.yaml");
    std::fs::write(&product_file, product.text).map_err(|e| io(&product_file, e))?;
    let mut offsets = vec![(product_file.clone(), product.first_line)];
    for component in components {
        let value: serde_json::Value = serde_saphyr::from_str(component.text).map_err(|e| {
            body_error(
                component.first_line,
                format!("a component document that is not YAML: {e}"),
            )
        })?;
        let name = value
            .pointer("/metadata/name")
            .and_then(serde_json::Value::as_str)
            .filter(|name| {
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            })
            .ok_or_else(|| {
                body_error(
                    component.first_line,
                    "every document after the product is a Component with a metadata.name"
                        .to_owned(),
                )
            })?;
        let file = components_dir.join(format!("{name}.yaml"));
        std::fs::write(&file, component.text).map_err(|e| io(&file, e))?;
        offsets.push((file, component.first_line));
    }
    load_product(&product_file).map_err(|errors| {
        Error::Manifest(ManifestErrors(
            errors
                .0
                .into_iter()
                .map(|mut error| {
                    if let Some((_, first_line)) = offsets.iter().find(|(f, _)| *f == error.file) {
                        error.file = PathBuf::from(BODY);
                        error.line += first_line - 1;
                    }
                    error
                })
                .collect(),
        ))
    })
}

/// Register product `name` from `body`, as `identity` (an admin). Nothing is stored unless the
/// whole manifest is valid and names itself `name`.
pub async fn apply_product(
    context: &Context,
    identity: &Identity,
    name: &str,
    body: &str,
    audit: AuditEvent,
) -> Result<ProductRecord, Error> {
    authorize(identity, Role::Admin)?;
    let scratch = tempfile::Builder::new()
        .prefix("apply-")
        .tempdir_in(scratch_dir(context)?)
        .map_err(|source| Error::Io {
            path: context.state_dir.clone(),
            source,
        })?;
    let product = write_and_load(body, scratch.path())?;
    if product.name != name {
        return Err(Error::InvalidField {
            field: "metadata.name".to_owned(),
            message: format!(
                "the manifest is product `{}`, but it was sent as `{name}`",
                product.name
            ),
        });
    }
    Ok(context.store.put_product(name, body, &audit).await?)
}

/// A product file and the component files it names as one multi-document body, what
/// registration takes (`chorale apply`, `PUT /api/v1/products/{name}`), with the product's
/// name; checked first as `chorale validate` checks it.
pub fn body_of_file(file: &Path) -> Result<(String, String), Error> {
    let product = load_product(file)?;
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })
    };
    let mut body = read(file)?;
    let mut sent = std::collections::BTreeSet::new();
    for component in &product.components {
        let origin = &component.origin.file;
        if *origin != product.file && sent.insert(origin.clone()) {
            if !body.ends_with('\n') {
                body.push('\n');
            }
            body.push_str("---\n");
            body.push_str(&read(origin)?);
        }
    }
    Ok((product.name, body))
}

/// The registered product `name`, as `identity` (any role).
pub async fn get_product(
    context: &Context,
    identity: &Identity,
    name: &str,
) -> Result<ProductRecord, Error> {
    authorize(identity, Role::Viewer)?;
    context
        .store
        .product(name)
        .await?
        .ok_or_else(|| Error::NoSuch {
            kind: "product",
            name: name.to_owned(),
            hint: "`GET /api/v1/products` lists the registered products",
        })
}

/// Every registered product, as `identity` (any role).
pub async fn list_products(
    context: &Context,
    identity: &Identity,
) -> Result<Vec<ProductRecord>, Error> {
    authorize(identity, Role::Viewer)?;
    Ok(context.store.products().await?)
}

fn scratch_dir(context: &Context) -> Result<PathBuf, Error> {
    let dir = context.state_dir.join("tmp");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    Ok(dir)
}

/// How many next fire times and last occurrences a product shows.
const SHOWN: usize = 5;

/// The schedule of the registered product `record`, if it has one (its manifest written out
/// once per generation and loaded).
pub(crate) fn read_schedule(
    context: &Context,
    record: &ProductRecord,
) -> Result<Option<crate::scheduler::Schedule>, Error> {
    let file =
        super::builds::product_files(context, &record.name, record.generation, &record.manifest)?;
    Ok(load_product(&file)?.schedule)
}

/// For a product with a schedule: its next fire times (by the database's clock) and its last
/// occurrences, newest first.
pub async fn schedule_of(
    context: &Context,
    record: &ProductRecord,
) -> Result<Option<(Vec<jiff::Timestamp>, Vec<Occurrence>)>, Error> {
    let Some(schedule) = read_schedule(context, record)? else {
        return Ok(None);
    };
    let now = context.store.now().await?;
    let last = context
        .store
        .occurrences(&record.name, SHOWN as u32)
        .await?;
    Ok(Some((schedule.next(now, SHOWN), last)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_splits_at_its_document_markers_keeping_line_numbers() {
        let body = "kind: Product\n---\nkind: Component\nmetadata: {name: web}\n--- \n\n";
        let split = documents(body);
        assert_eq!(split.len(), 2);
        assert_eq!(split[0].first_line, 1);
        assert_eq!(split[1].first_line, 3);
        assert!(split[1].text.starts_with("kind: Component"));
        assert!(documents("  \n").is_empty());
    }
}

//! The JSON schema of the manifest documents, generated from their Rust types.

use std::path::Path;

use super::document::{ComponentDocument, ProductDocument};

/// The schema files, as (file name, pretty JSON with a trailing newline).
pub fn schema_files() -> Vec<(&'static str, String)> {
    let render = |schema: schemars::Schema| {
        let mut text = serde_json::to_string_pretty(&schema).expect("a schema serialises");
        text.push('\n');
        text
    };
    vec![
        (
            "product.schema.json",
            render(schemars::schema_for!(ProductDocument)),
        ),
        (
            "component.schema.json",
            render(schemars::schema_for!(ComponentDocument)),
        ),
    ]
}

/// Write the schema files into `dir` (created if needed); returns the paths written.
pub fn write_schema(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    schema_files()
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            Ok(path)
        })
        .collect()
}

//! Reproducible `.tar.gz` archives, as charts and the bundle's values files are kept.
//!
//! The same entries always give the same bytes: entries in the order given, every timestamp
//! the one passed, owner 0:0, modes 0644/0755, a gzip header without name or time.

use std::io::{Read, Write};

/// One file of an archive.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Its path inside the archive (`/`-separated, relative).
    pub path: String,
    /// Its bytes.
    pub content: &'a [u8],
    /// Mode 0755 instead of 0644.
    pub executable: bool,
}

/// A gzip-compressed tar of `entries`, each stamped with `mtime` (seconds since the epoch).
pub fn tgz<'a>(
    entries: impl IntoIterator<Item = Entry<'a>>,
    mtime: u64,
) -> std::io::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(entry.content.len() as u64);
        header.set_mode(if entry.executable { 0o755 } else { 0o644 });
        header.set_mtime(mtime);
        header.set_uid(0);
        header.set_gid(0);
        header.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut header, &entry.path, entry.content)?;
    }
    let mut gzip = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(Vec::new(), flate2::Compression::default());
    gzip.write_all(&tar.into_inner()?)?;
    gzip.finish()
}

/// The regular files of a `.tar.gz`, as (path, bytes) in archive order. Anything else in it
/// (a folder, a link, a device) is an error, so that nothing in it can point outside it.
pub fn read_tgz(archive: &[u8]) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    let mut files = Vec::new();
    for entry in tar.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("`{path}` is not a regular file"),
            ));
        }
        let mut content = Vec::new();
        entry.read_to_end(&mut content)?;
        files.push((path, content));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<'a>(path: &str, content: &'a str) -> Entry<'a> {
        Entry {
            path: path.to_owned(),
            content: content.as_bytes(),
            executable: false,
        }
    }

    #[test]
    fn the_same_entries_give_the_same_bytes_and_read_back() {
        let entries = [entry("a/one.yaml", "one: 1\n"), entry("a/two.yaml", "")];
        let first = tgz(entries.clone(), 1_700_000_000).unwrap();
        assert_eq!(first, tgz(entries.clone(), 1_700_000_000).unwrap());
        assert_ne!(first, tgz(entries, 1_700_000_001).unwrap(), "mtime is kept");
        assert_eq!(
            read_tgz(&first).unwrap(),
            [
                ("a/one.yaml".to_owned(), b"one: 1\n".to_vec()),
                ("a/two.yaml".to_owned(), Vec::new()),
            ]
        );
    }

    #[test]
    fn links_and_garbage_are_refused() {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Symlink);
        header.set_size(0);
        tar.append_link(&mut header, "evil", "/etc/passwd").unwrap();
        let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gzip.write_all(&tar.into_inner().unwrap()).unwrap();
        let error = read_tgz(&gzip.finish().unwrap()).unwrap_err();
        assert_eq!(error.to_string(), "`evil` is not a regular file");

        assert!(read_tgz(b"not an archive").is_err());
    }
}

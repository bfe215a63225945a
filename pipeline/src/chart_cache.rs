//! Packaged charts kept by the git tree id of their folder, so a chart whose folder did not
//! change is not read nor packaged again at the next snapshot (packaging a folder with a 50 MB
//! file takes seconds; taking it from here, milliseconds).
//!
//! Packaging is a function of the folder's files alone ([`crate::chart`]), and the tree id
//! names those files, so an entry is keyed by the tree id and [`PACKAGING_RULES`] (a change of
//! the rules packages every chart again). An entry is two files under `STATE/cache/charts`:
//! `TREE.rN.tgz`, the archive, then `TREE.rN.json`, what was packaged (name, version, config,
//! the archive's digest, sizes); each is written whole under a temporary name and renamed, the
//! JSON last, so an entry whose JSON is there is complete. An entry whose archive does not have
//! the digest its JSON says is ignored (and replaced).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::chart::{ChartPackage, PACKAGING_RULES};

/// Packaged size (the files in the archive, unpacked) over which a snapshot warns: 10 MiB.
/// A chart that large is usually a mistake (a binary or a data set committed beside the
/// chart), and Helm keeps every release's chart in a Secret limited to 1 MiB compressed.
pub const DEFAULT_CHART_SIZE_WARNING: u64 = 10 * 1024 * 1024;

/// How many of the largest files a warning names.
const LARGEST_NAMED: usize = 5;

/// Packaged charts by tree id, and the size over which a chart is said to be large.
#[derive(Debug, Clone)]
pub struct ChartCache {
    dir: PathBuf,
    /// Packaged size in bytes over which a snapshot warns ([`DEFAULT_CHART_SIZE_WARNING`]).
    pub size_warning: u64,
}

/// A file of a packaged chart and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackagedFile {
    /// Its path in the archive (`name/…`).
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
}

/// A packaged chart with what a warning needs to say about its size.
#[derive(Debug, Clone)]
pub struct CachedChart {
    /// The package.
    pub package: ChartPackage,
    /// The size of the files in the archive, unpacked.
    pub unpacked_bytes: u64,
    /// Its largest files, largest first.
    pub largest: Vec<PackagedFile>,
}

/// What an entry's JSON holds.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EntryDocument {
    name: String,
    version: String,
    config: String,
    digest: String,
    unpacked_bytes: u64,
    largest: Vec<PackagedFile>,
}

impl ChartCache {
    /// A cache in `dir` (made when the first entry is written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            size_warning: DEFAULT_CHART_SIZE_WARNING,
        }
    }

    /// The folder the entries are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, tree: &str, extension: &str) -> PathBuf {
        self.dir
            .join(format!("{tree}.r{PACKAGING_RULES}.{extension}"))
    }

    /// Whether the chart of `tree` is here (its entry may still turn out unreadable).
    pub fn has(&self, tree: &str) -> bool {
        is_tree_id(tree) && self.path(tree, "json").is_file()
    }

    /// The chart packaged from `tree`, when it is here and whole.
    pub fn get(&self, tree: &str) -> Option<CachedChart> {
        if !is_tree_id(tree) {
            return None;
        }
        let document: EntryDocument =
            serde_json::from_slice(&std::fs::read(self.path(tree, "json")).ok()?).ok()?;
        let archive = std::fs::read(self.path(tree, "tgz")).ok()?;
        let package = ChartPackage {
            name: document.name,
            version: document.version,
            archive,
            config: document.config.into_bytes(),
        };
        if package.digest() != document.digest {
            tracing::warn!(
                tree,
                "a cached chart does not have its digest; packaging it again"
            );
            return None;
        }
        Some(CachedChart {
            package,
            unpacked_bytes: document.unpacked_bytes,
            largest: document.largest,
        })
    }

    /// Keep `package`, packaged from `tree`; the entry is what [`get`](Self::get) would give.
    /// A cache that cannot be written is logged and does not fail the snapshot.
    pub fn put(&self, tree: &str, package: ChartPackage) -> CachedChart {
        let (unpacked_bytes, largest) = sizes(&package.archive);
        let cached = CachedChart {
            package,
            unpacked_bytes,
            largest,
        };
        if is_tree_id(tree)
            && let Err(error) = self.write(tree, &cached)
        {
            tracing::warn!(%error, dir = %self.dir.display(), "cannot keep a packaged chart");
        }
        cached
    }

    fn write(&self, tree: &str, cached: &CachedChart) -> std::io::Result<()> {
        let document = EntryDocument {
            name: cached.package.name.clone(),
            version: cached.package.version.clone(),
            config: String::from_utf8_lossy(&cached.package.config).into_owned(),
            digest: cached.package.digest(),
            unpacked_bytes: cached.unpacked_bytes,
            largest: cached.largest.clone(),
        };
        std::fs::create_dir_all(&self.dir)?;
        write_whole(&self.path(tree, "tgz"), &cached.package.archive)?;
        let json = serde_json::to_vec_pretty(&document).expect("an entry serialises");
        write_whole(&self.path(tree, "json"), &json)
    }

    /// The warning a snapshot gives for `chart` of `component`, when it is larger than
    /// [`size_warning`](Self::size_warning).
    pub fn warning(&self, component: &str, chart: &CachedChart) -> Option<String> {
        (chart.unpacked_bytes > self.size_warning).then(|| {
            let largest: Vec<String> = chart
                .largest
                .iter()
                .map(|file| format!("{} ({})", file.path, mib(file.bytes)))
                .collect();
            format!(
                "component {component}: the chart is {} unpacked, over the {} warning size; its largest files: {}",
                mib(chart.unpacked_bytes),
                mib(self.size_warning),
                largest.join(", ")
            )
        })
    }
}

/// `1.5 MiB`.
fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss, reason = "a size shown to one decimal")]
    let mib = bytes as f64 / (1024.0 * 1024.0);
    format!("{mib:.1} MiB")
}

/// Whether `text` is a hex object id (a tree id names a file here, so nothing else may).
fn is_tree_id(text: &str) -> bool {
    (40..=64).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The unpacked size of the files of `archive` and the largest of them, largest first.
fn sizes(archive: &[u8]) -> (u64, Vec<PackagedFile>) {
    let mut files = Vec::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    if let Ok(entries) = tar.entries() {
        for entry in entries.flatten() {
            let path = entry.path().map(|p| p.to_string_lossy().into_owned());
            if let Ok(path) = path {
                files.push(PackagedFile {
                    path,
                    bytes: entry.size(),
                });
            }
        }
    }
    let total = files.iter().map(|f| f.bytes).sum();
    files.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    files.truncate(LARGEST_NAMED);
    (total, files)
}

/// Write `bytes` to `path` whole: to a temporary file beside it, then renamed over it.
fn write_whole(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, bytes)?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use chorale_runners::git::{Folder, TreeFile};

    use super::*;

    fn chart(big: usize) -> ChartPackage {
        let file = |path: &str, content: Vec<u8>| TreeFile {
            path: path.to_owned(),
            executable: false,
            content,
        };
        crate::chart::package(&Folder {
            tree: "ab".repeat(20),
            commit_time: 0,
            files: vec![
                file(
                    "Chart.yaml",
                    b"apiVersion: v2\nname: db\nversion: 0.1.0\n".to_vec(),
                ),
                file("files/big.bin", vec![7; big]),
                file("values.yaml", b"a: 1\n".to_vec()),
            ],
        })
        .unwrap()
    }

    #[test]
    fn an_entry_gives_back_the_package_and_a_damaged_one_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ChartCache::new(dir.path().join("charts"));
        let tree = "cd".repeat(20);
        assert!(!cache.has(&tree));
        let package = chart(100);
        let put = cache.put(&tree, package.clone());
        assert_eq!(put.largest[0].path, "db/files/big.bin");
        assert!(cache.has(&tree));
        let got = cache.get(&tree).unwrap();
        assert_eq!(got.package, package);
        assert_eq!(got.unpacked_bytes, put.unpacked_bytes);
        std::fs::write(cache.path(&tree, "tgz"), b"not the archive").unwrap();
        assert!(cache.get(&tree).is_none());
        assert!(cache.get("../../etc/passwd").is_none());
    }

    #[test]
    fn a_large_chart_is_named_with_its_largest_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut cache = ChartCache::new(dir.path());
        let cached = cache.put(&"ef".repeat(20), chart(3 * 1024 * 1024));
        assert_eq!(cache.warning("db", &cached), None);
        cache.size_warning = 2 * 1024 * 1024;
        let warning = cache.warning("db", &cached).unwrap();
        assert!(
            warning.starts_with(
                "component db: the chart is 3.0 MiB unpacked, over the 2.0 MiB warning size; its largest files: db/files/big.bin (3.0 MiB), "
            ),
            "{warning}"
        );
    }
}

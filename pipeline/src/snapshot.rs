//! Snapshot: resolve every component of a product to exact commits and digests, concurrently
//! and bounded, into a [`Lock`] (plus the packaged charts, ready to bundle).
//!
//! Each git remote is fetched once however many components use it; each distinct image and
//! OCI chart repository is asked once. Every failure is collected, so one run reports every
//! component that cannot be resolved.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use chorale_runners::git::{Folder, FolderAt};
use chorale_runners::registry::parse_reference;
use chorale_runners::{GitError, RegistryError};
use chorale_test_jobs::PlannedTest;
use futures::StreamExt;
use tokio::sync::Semaphore;

use crate::Runners;
use crate::chart::{self, ChartPackage};
use crate::engine::events::{BuildEvent, Observer};
use crate::errors::{ComponentError, SnapshotErrors};
use crate::manifest::{ChartSource, Component, Product};
use crate::resources::lock::{
    Lock, LockedChart, LockedComponent, LockedImage, LockedSource, PinnedImage,
};

/// A product resolved: the lock and where each chart's content is.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The lock.
    pub lock: Lock,
    /// Component name -> its chart content.
    pub charts: BTreeMap<String, ChartContent>,
    /// The product's checked test plan (it travels in the bundle).
    pub tests: Vec<PlannedTest>,
}

/// Where a locked chart's bytes are.
#[derive(Debug, Clone)]
pub enum ChartContent {
    /// Packaged from git, in memory.
    Packaged(ChartPackage),
    /// In an OCI registry: `host/path` and the manifest digest.
    Oci {
        /// `host[:port]/path/name`.
        repository: String,
        /// Manifest digest.
        digest: String,
    },
}

/// Resolve every component of `product` with at most `concurrency` requests in flight (git
/// fetches and registry requests alike). `previous`, the product's last lock, lets the
/// registry answer "not modified" for image tags that still point where they did.
pub async fn snapshot(
    product: &Product,
    runners: &Runners,
    concurrency: usize,
    previous: Option<&Lock>,
    observer: &dyn Observer,
) -> Result<Snapshot, SnapshotErrors> {
    let limit = Arc::new(Semaphore::new(concurrency.max(1)));
    observer.event(&BuildEvent::Resolving {
        components: product.components.len(),
    });
    let last_digests = previous.map(Lock::image_digests).unwrap_or_default();
    let (charts, images) = tokio::join!(
        resolve_charts(product, runners, &limit, observer),
        resolve_images(product, runners, &limit, &last_digests),
    );
    let mut errors = Vec::new();
    let mut locked = Vec::new();
    let mut contents = BTreeMap::new();
    for component in &product.components {
        let mut ok = true;
        let mut pinned = Vec::new();
        for image in &component.images {
            match &images[&image.reference] {
                Ok(digest) => pinned.push(LockedImage {
                    reference: image.reference.clone(),
                    digest: digest.clone(),
                    values: image.values.clone(),
                }),
                Err(source) => {
                    ok = false;
                    errors.push(ComponentError::Registry {
                        component: component.name.clone(),
                        source: source.clone(),
                    });
                }
            }
        }
        match charts.get(&component.name) {
            Some(Ok((source, chart, content))) if ok => {
                locked.push(LockedComponent {
                    name: component.name.clone(),
                    source: source.clone(),
                    chart: chart.clone(),
                    images: pinned,
                    depends_on: component.depends_on.clone(),
                    values: component.values.clone(),
                });
                contents.insert(component.name.clone(), content.clone());
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => errors.push(error.clone()),
            None => unreachable!("every component's chart is resolved"),
        }
    }
    let test_image = match &product.test_image {
        Some(reference) => match &images[reference] {
            Ok(digest) => Some(PinnedImage {
                reference: reference.clone(),
                digest: digest.clone(),
            }),
            Err(source) => {
                errors.push(ComponentError::TestImage {
                    source: source.clone(),
                });
                None
            }
        },
        None => None,
    };
    if !errors.is_empty() {
        return Err(SnapshotErrors(errors));
    }
    Ok(Snapshot {
        lock: Lock::new(&product.name, product.version_line, locked, test_image),
        charts: contents,
        tests: product.tests.clone(),
    })
}

type ChartResult = Result<(Option<LockedSource>, LockedChart, ChartContent), ComponentError>;

/// Resolve every component's chart: git remotes fetched once each, OCI charts asked once each.
async fn resolve_charts(
    product: &Product,
    runners: &Runners,
    limit: &Semaphore,
    observer: &dyn Observer,
) -> HashMap<String, ChartResult> {
    let mut by_remote: BTreeMap<&str, Vec<&Component>> = BTreeMap::new();
    let mut oci: Vec<&Component> = Vec::new();
    for component in &product.components {
        match &component.chart {
            ChartSource::Git { repository, .. } => {
                by_remote.entry(repository).or_default().push(component);
            }
            ChartSource::Oci { .. } => oci.push(component),
        }
    }
    let git = futures::stream::iter(by_remote)
        .map(|(remote, components)| async move {
            let wanted = components.iter().map(|c| folder_at(c)).collect();
            // A folder whose packaged chart is kept is not read: its tree id is enough.
            let charts = runners.charts.clone();
            let known = move |tree: &str| charts.has(tree);
            let read = match (runners.git)
                .fetch_folders_unless(remote, wanted, Some(limit), known)
                .await
            {
                Ok(read) => read,
                Err(error) => vec![Err(error); components.len()],
            };
            let mut results = Vec::new();
            for (component, read) in components.into_iter().zip(read) {
                results.push((
                    component.name.clone(),
                    package_git_chart(component, read, runners, observer).await,
                ));
                observer.event(&BuildEvent::Resolved {
                    component: component.name.clone(),
                });
            }
            results
        })
        .buffer_unordered(usize::MAX)
        .flat_map(futures::stream::iter);
    let oci = futures::stream::iter(oci)
        .map(|component| async move {
            let result = {
                let _permit = limit.acquire().await.expect("semaphore open");
                resolve_oci_chart(component, runners).await
            };
            observer.event(&BuildEvent::Resolved {
                component: component.name.clone(),
            });
            (component.name.clone(), result)
        })
        .buffer_unordered(usize::MAX);
    futures::stream::select(git, oci).collect().await
}

/// The ref and folder of a git chart, to read from its remote's mirror.
fn folder_at(component: &Component) -> FolderAt {
    let ChartSource::Git {
        reference,
        chart_path,
        ..
    } = &component.chart
    else {
        unreachable!("called for git charts only")
    };
    FolderAt {
        reference: reference.clone(),
        path: chart_path.clone(),
    }
}

/// Package the chart folder `read` from the git remote of `component` at the commit its ref
/// resolved to, or take it from the cache of packaged charts when its tree was packaged before
/// (then the folder was not read). A chart over the cache's size warning is told to `observer`.
async fn package_git_chart(
    component: &Component,
    read: Result<(String, Folder), GitError>,
    runners: &Runners,
    observer: &dyn Observer,
) -> ChartResult {
    let ChartSource::Git {
        repository,
        reference,
        chart_path,
    } = &component.chart
    else {
        unreachable!("called for git charts only")
    };
    let git_error = |source| ComponentError::Git {
        component: component.name.clone(),
        source,
    };
    let (commit, mut folder) = read.map_err(git_error)?;
    let cached = if folder.files.is_empty() {
        let (charts, tree) = (runners.charts.clone(), folder.tree.clone());
        tokio::task::spawn_blocking(move || charts.get(&tree))
            .await
            .expect("reading a cached chart panicked")
    } else {
        None
    };
    let cached = if let Some(cached) = cached {
        cached
    } else {
        if folder.files.is_empty() {
            // Said to be kept, but gone or damaged since (or the folder is empty): read it.
            let again = FolderAt {
                reference: commit.clone(),
                path: chart_path.clone(),
            };
            let read = runners
                .git
                .fetch_folders(repository, vec![again], None)
                .await;
            let mut read = read.map_err(git_error)?;
            folder = read.pop().expect("one folder asked").map_err(git_error)?.1;
        }
        let charts = runners.charts.clone();
        tokio::task::spawn_blocking(move || {
            chart::package(&folder).map(|package| charts.put(&folder.tree, package))
        })
        .await
        .expect("packaging panicked")
        .map_err(|message| ComponentError::Chart {
            component: component.name.clone(),
            location: format!("{repository}@{}:{chart_path}", &commit[..12]),
            message,
        })?
    };
    if let Some(message) = runners.charts.warning(&component.name, &cached) {
        tracing::warn!("{message}");
        observer.event(&BuildEvent::Warning { message });
    }
    let package = cached.package;
    Ok((
        Some(LockedSource {
            repository: repository.clone(),
            reference: reference.clone(),
            commit,
            chart_path: chart_path.clone(),
        }),
        LockedChart {
            name: package.name.clone(),
            version: package.version.clone(),
            digest: package.digest(),
            repository: None,
        },
        ChartContent::Packaged(package),
    ))
}

async fn resolve_oci_chart(component: &Component, runners: &Runners) -> ChartResult {
    let ChartSource::Oci { repository, range } = &component.chart else {
        unreachable!("called for OCI charts only")
    };
    let registry_error = |source| ComponentError::Registry {
        component: component.name.clone(),
        source,
    };
    let reference = parse_reference(repository).map_err(registry_error)?;
    let tags = runners
        .registry
        .list_tags(&reference)
        .await
        .map_err(registry_error)?;
    let mut versions: Vec<(semver::Version, String)> = tags
        .into_iter()
        .filter_map(|tag| {
            semver::Version::parse(&tag.replace('_', "+"))
                .ok()
                .map(|v| (v, tag))
        })
        .collect();
    versions.sort();
    let Some((version, tag)) = versions.iter().rev().find(|(v, _)| range.matches(v)) else {
        return Err(ComponentError::NoMatchingVersion {
            component: component.name.clone(),
            repository: repository.clone(),
            range: range.to_string(),
            available: versions
                .iter()
                .rev()
                .take(10)
                .map(|(v, _)| v.to_string())
                .collect(),
        });
    };
    let tagged = parse_reference(&format!("{repository}:{tag}")).map_err(registry_error)?;
    let digest = runners
        .registry
        .resolve_digest(&tagged)
        .await
        .map_err(registry_error)?;
    let name = repository
        .rsplit('/')
        .next()
        .unwrap_or(repository)
        .to_owned();
    Ok((
        None,
        LockedChart {
            name,
            version: version.to_string(),
            digest: digest.clone(),
            repository: Some(format!("oci://{repository}")),
        },
        ChartContent::Oci {
            repository: repository.clone(),
            digest,
        },
    ))
}

/// Resolve every distinct image reference once, telling the registry the digest it had in
/// `last_digests`.
async fn resolve_images(
    product: &Product,
    runners: &Runners,
    limit: &Semaphore,
    last_digests: &HashMap<&str, &str>,
) -> HashMap<String, Result<String, RegistryError>> {
    let mut distinct: Vec<&str> = product
        .components
        .iter()
        .flat_map(|c| c.images.iter().map(|i| i.reference.as_str()))
        .chain(product.test_image.as_deref())
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    futures::stream::iter(distinct)
        .map(|text| async move {
            let digest = match parse_reference(text) {
                Ok(reference) => {
                    let _permit = limit.acquire().await.expect("semaphore open");
                    let last = last_digests.get(text).copied();
                    runners
                        .registry
                        .resolve_digest_since(&reference, last)
                        .await
                }
                Err(error) => Err(error),
            };
            (text.to_owned(), digest)
        })
        .buffer_unordered(usize::MAX)
        .collect()
        .await
}

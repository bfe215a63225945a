//! Bundle: one OCI artifact holding a snapshot — the lock as config, the test plan, one layer
//! per chart, and one archive of every component's values file pinning its images by digest
//! (`values/<component>.values.yaml`) — plus each chart pushed on its own as a Helm OCI chart,
//! so `helm pull oci://…` works on it.
//!
//! Blobs already at the destination are not uploaded again (a registry is asked first and, for
//! the bundle's chart layers, asked to mount them from the chart repository). Tags move last:
//! the per-build tag, then `latest`, only after every blob and manifest is stored, so a failure
//! halfway leaves no tag pointing at a partial bundle.

mod fetch;

use bytes::Bytes;
use chorale_runners::RegistryError;
use chorale_runners::digest::sha256;
use chorale_runners::registry::{OciStore, RegistryClient, parse_reference};
use futures::{StreamExt, TryStreamExt};

use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::archive;
use crate::chart::{HELM_CHART_MEDIA_TYPE, HELM_CONFIG_MEDIA_TYPE};
use crate::errors::Error;
use crate::resources::bundle::{BundleOutcome, PushedChart};
use crate::resources::lock::Lock;
use crate::snapshot::{ChartContent, Snapshot};

pub use fetch::{ComponentFiles, FetchedBundle, fetch_bundle};

/// `artifactType` of a Chorale bundle.
pub const BUNDLE_ARTIFACT_TYPE: &str = "application/vnd.chorale.bundle.v1+json";
/// Media type of the bundle's config blob, the lock.
pub const LOCK_MEDIA_TYPE: &str = "application/vnd.chorale.lock.v1+json";
/// Media type of the bundle's values layer: a `.tar.gz` of `values/<component>.values.yaml`.
pub const VALUES_MEDIA_TYPE: &str = "application/vnd.chorale.values.v1.tar+gzip";
/// The folder of the values files inside the values layer.
const VALUES_FOLDER: &str = "values";
/// Media type of the bundle's test plan (the checked tests, as JSON).
pub const TESTS_MEDIA_TYPE: &str = "application/vnd.chorale.tests.v1+json";
/// Annotation naming the component a layer belongs to.
pub const COMPONENT_ANNOTATION: &str = "dev.chorale.component";
const OCI_MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";

/// A chart's two blobs and the manifest that joins them.
struct ChartBlobs {
    component: String,
    name: String,
    tag: String,
    config: Bytes,
    archive: Bytes,
    manifest: Bytes,
}

/// `repository:tag` of repository `name` in `store`.
fn reference(store: &dyn OciStore, name: &str, tag: &str) -> String {
    format!("{}:{tag}", store.repository(name))
}

/// Push `snapshot` to `destination` as a bundle tagged `build_tag` and `latest`, with at most
/// `concurrency` requests in flight.
///
/// Everything that does not wait for something else goes at once: per chart, the standalone
/// chart (its two blobs, then its manifest), and once it is in, its archive linked into the
/// bundle repository; beside them the bundle's lock, test plan and values files. Only when all
/// of that is stored are the bundle's tags written.
pub async fn push_bundle(
    snapshot: &Snapshot,
    registry: &RegistryClient,
    destination: &dyn OciStore,
    build_tag: &str,
    concurrency: usize,
) -> Result<BundleOutcome, Error> {
    let fail = |source| Error::Bundle {
        destination: destination.describe(),
        source,
    };
    let lock = &snapshot.lock;
    let charts: Vec<ChartBlobs> = futures::stream::iter(&snapshot.charts)
        .map(|(component, content)| chart_blobs(component, content, registry))
        .buffered(concurrency.max(1))
        .try_collect()
        .await
        .map_err(fail)?;
    let bundle = BundleBlobs::new(snapshot, &charts);
    let digest = sha256(&bundle.manifest);
    let product = &lock.product;
    let pusher = Pusher {
        destination,
        product,
        limit: Semaphore::new(concurrency.max(1)),
    };

    // A bundle already stored by digest has every blob: only the standalone charts are checked
    // and the tags written.
    let stored = pusher
        .request(destination.has_manifest(product, &format!("@{digest}"), &digest))
        .await
        .map_err(fail)?;
    let charts_pushed =
        futures::future::try_join_all(charts.iter().map(|chart| pusher.chart(chart, !stored)));
    let own_blobs: &[&Bytes] = if stored {
        &[]
    } else {
        &[&bundle.config, &bundle.tests, &bundle.values]
    };
    let (pushed, own) = futures::future::try_join(charts_pushed, pusher.blobs(product, own_blobs))
        .await
        .map_err(fail)?;
    let uploaded_bytes = pushed.iter().map(|(_, n)| n).sum::<u64>() + own;
    let mut charts_out: Vec<PushedChart> = pushed.into_iter().map(|(c, _)| c).collect();
    charts_out.sort_by(|a, b| a.component.cmp(&b.component));

    let tags = vec![build_tag.to_owned(), "latest".to_owned()];
    for tag in &tags {
        destination
            .put_manifest(product, tag, OCI_MANIFEST_MEDIA_TYPE, &bundle.manifest)
            .await
            .map_err(fail)?;
    }
    Ok(BundleOutcome {
        reference: format!("{}@{digest}", destination.repository(product)),
        repository: destination.repository(product),
        digest,
        tags,
        lock_id: lock.id.clone(),
        charts: charts_out,
        uploaded_bytes,
    })
}

/// The bundle's own blobs and its manifest: the lock as config, the test plan, the archive of
/// the values files, and the layer of each chart (in the order of `charts`).
struct BundleBlobs {
    config: Bytes,
    tests: Bytes,
    values: Bytes,
    manifest: Bytes,
}

impl BundleBlobs {
    fn new(snapshot: &Snapshot, charts: &[ChartBlobs]) -> Self {
        let lock = &snapshot.lock;
        let config = Bytes::from(serde_json::to_vec(lock).expect("a lock serialises"));
        let tests = Bytes::from(serde_json::to_vec(&snapshot.tests).expect("tests serialise"));
        let mut layers = vec![json!({
            "mediaType": TESTS_MEDIA_TYPE,
            "digest": sha256(&tests),
            "size": tests.len(),
            "annotations": { TITLE_ANNOTATION: "tests.json" },
        })];
        for chart in charts {
            layers.push(json!({
                "mediaType": HELM_CHART_MEDIA_TYPE,
                "digest": sha256(&chart.archive),
                "size": chart.archive.len(),
                "annotations": {
                    COMPONENT_ANNOTATION: chart.component,
                    TITLE_ANNOTATION: format!("{}-{}.tgz", chart.name, chart.tag.replace('_', "+")),
                },
            }));
        }
        let values = Bytes::from(values_archive(lock));
        layers.push(json!({
            "mediaType": VALUES_MEDIA_TYPE,
            "digest": sha256(&values),
            "size": values.len(),
            "annotations": { TITLE_ANNOTATION: format!("{VALUES_FOLDER}.tar.gz") },
        }));
        let manifest = Bytes::from(
            serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST_MEDIA_TYPE,
                "artifactType": BUNDLE_ARTIFACT_TYPE,
                "config": {
                    "mediaType": LOCK_MEDIA_TYPE,
                    "digest": sha256(&config),
                    "size": config.len(),
                },
                "layers": layers,
                "annotations": {
                    "dev.chorale.product": lock.product,
                    "dev.chorale.lock": lock.id,
                },
            }))
            .expect("a manifest serialises"),
        );
        Self {
            config,
            tests,
            values,
            manifest,
        }
    }
}

/// Pushes to one destination with at most a fixed number of requests in flight.
struct Pusher<'a> {
    destination: &'a dyn OciStore,
    /// The bundle's repository.
    product: &'a str,
    limit: Semaphore,
}

impl Pusher<'_> {
    /// Run one request once fewer than the limit are in flight. (A registry request's future
    /// is large: it lives on the heap, so that the many waiting stay small.)
    fn request<'f, T>(
        &'f self,
        request: impl Future<Output = T> + 'f,
    ) -> impl Future<Output = T> + 'f {
        let request = Box::pin(request);
        async move {
            let _permit = self
                .limit
                .acquire()
                .await
                .expect("the semaphore is never closed");
            request.await
        }
    }

    /// Make sure repository `repo` holds `blobs`, all at once; returns the bytes uploaded.
    async fn blobs(&self, repo: &str, blobs: &[&Bytes]) -> Result<u64, RegistryError> {
        let uploaded = futures::future::try_join_all(blobs.iter().map(|blob| {
            self.request(async move {
                self.destination
                    .ensure_blob(repo, &sha256(blob), blob, None)
                    .await
            })
        }))
        .await?;
        Ok(uploaded.iter().sum())
    }

    /// Push `chart` on its own unless it is there already, and — when `into_bundle`, i.e. the
    /// bundle is not stored yet — put its archive into the bundle repository. Returns where the
    /// chart is and the bytes uploaded.
    async fn chart(
        &self,
        chart: &ChartBlobs,
        into_bundle: bool,
    ) -> Result<(PushedChart, u64), RegistryError> {
        let destination = self.destination;
        let repo = format!("charts/{}", chart.name);
        let digest = sha256(&chart.manifest);
        let mut uploaded = 0;
        if !self
            .request(destination.has_manifest(&repo, &chart.tag, &digest))
            .await?
        {
            uploaded += self.blobs(&repo, &[&chart.config, &chart.archive]).await?;
            self.request(destination.put_manifest(
                &repo,
                &chart.tag,
                OCI_MANIFEST_MEDIA_TYPE,
                &chart.manifest,
            ))
            .await?;
        }
        if into_bundle {
            // Linked from the chart's repository, where it now is.
            uploaded += self
                .request(destination.ensure_blob(
                    self.product,
                    &sha256(&chart.archive),
                    &chart.archive,
                    Some(&repo),
                ))
                .await?;
        }
        Ok((
            PushedChart {
                component: chart.component.clone(),
                reference: reference(destination, &repo, &chart.tag),
                digest,
            },
            uploaded,
        ))
    }
}

/// Every component's values file, as `values/<component>.values.yaml` in one reproducible
/// archive, in the order of the lock.
fn values_archive(lock: &Lock) -> Vec<u8> {
    let texts: Vec<String> = lock
        .components
        .iter()
        .map(|component| {
            serde_saphyr::to_string(&component.deploy_values()).expect("values serialise")
        })
        .collect();
    let entries = lock
        .components
        .iter()
        .zip(&texts)
        .map(|(component, text)| archive::Entry {
            path: format!("{VALUES_FOLDER}/{}.values.yaml", component.name),
            content: text.as_bytes(),
            executable: false,
        });
    archive::tgz(entries, 0).expect("an archive in memory is written")
}

/// The blobs and manifest of one chart: packaged from git, or copied as stored in a registry.
async fn chart_blobs(
    component: &str,
    content: &ChartContent,
    registry: &RegistryClient,
) -> Result<ChartBlobs, RegistryError> {
    match content {
        ChartContent::Packaged(package) => {
            let manifest = serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST_MEDIA_TYPE,
                "config": {
                    "mediaType": HELM_CONFIG_MEDIA_TYPE,
                    "digest": sha256(&package.config),
                    "size": package.config.len(),
                },
                "layers": [{
                    "mediaType": HELM_CHART_MEDIA_TYPE,
                    "digest": package.digest(),
                    "size": package.archive.len(),
                    "annotations": { TITLE_ANNOTATION: package.file_name() },
                }],
                "annotations": {
                    TITLE_ANNOTATION: package.name,
                    "org.opencontainers.image.version": package.version,
                },
            }))
            .expect("a manifest serialises");
            Ok(ChartBlobs {
                component: component.to_owned(),
                name: package.name.clone(),
                tag: package.tag(),
                config: Bytes::from(package.config.clone()),
                archive: Bytes::from(package.archive.clone()),
                manifest: Bytes::from(manifest),
            })
        }
        ChartContent::Oci { repository, digest } => {
            let reference = parse_reference(&format!("{repository}@{digest}"))?;
            let manifest = registry.pull_manifest(&reference).await?;
            let parsed: Value =
                serde_json::from_slice(&manifest.bytes).map_err(|e| RegistryError::Protocol {
                    reference: reference.whole(),
                    message: e.to_string(),
                })?;
            let digest_of = |v: &Value| v["digest"].as_str().map(str::to_owned);
            let config_digest = digest_of(&parsed["config"]);
            let layer_digest = parsed["layers"].as_array().and_then(|layers| {
                layers
                    .iter()
                    .find(|l| l["mediaType"] == HELM_CHART_MEDIA_TYPE)
                    .and_then(digest_of)
            });
            let (Some(config_digest), Some(layer_digest)) = (config_digest, layer_digest) else {
                return Err(RegistryError::Protocol {
                    reference: reference.whole(),
                    message: "not a Helm chart (no Helm config or chart layer)".to_owned(),
                });
            };
            let config = registry.pull_blob(&reference, &config_digest).await?;
            let archive = registry.pull_blob(&reference, &layer_digest).await?;
            let metadata: Value =
                serde_json::from_slice(&config).map_err(|e| RegistryError::Protocol {
                    reference: reference.whole(),
                    message: format!("Helm config: {e}"),
                })?;
            let name = metadata["name"].as_str().unwrap_or_default().to_owned();
            let version = metadata["version"].as_str().unwrap_or_default().to_owned();
            Ok(ChartBlobs {
                component: component.to_owned(),
                name,
                tag: version.replace('+', "_"),
                config: Bytes::from(config),
                archive: Bytes::from(archive),
                manifest: manifest.bytes,
            })
        }
    }
}

//! What every Chorale operation works with: the state folder, the store and the runners.

use std::path::{Path, PathBuf};

use chorale_runners::git::{DEFAULT_FETCHES, GitRunner};
use chorale_runners::registry::{RegistryClient, RegistryOptions};

use crate::chart_cache::ChartCache;
use crate::errors::StoreError;
use crate::store::Store;

/// The runners a pipeline uses to touch the outside world.
#[derive(Debug, Clone)]
pub struct Runners {
    /// Git remotes (mirrors under `STATE/cache/git`).
    pub git: GitRunner,
    /// OCI registries.
    pub registry: RegistryClient,
    /// Packaged charts by tree id (under `STATE/cache/charts`), and the size over which a
    /// snapshot warns of a chart.
    pub charts: ChartCache,
}

impl Runners {
    /// Runners keeping their caches under `state_dir`.
    pub fn new(state_dir: &Path, registry: RegistryOptions) -> Self {
        Self {
            git: GitRunner::new(state_dir.join("cache").join("git"), DEFAULT_FETCHES),
            registry: RegistryClient::new(registry),
            charts: ChartCache::new(state_dir.join("cache").join("charts")),
        }
    }
}

/// Where Chorale keeps its state and how it reaches the world.
#[derive(Debug, Clone)]
pub struct Context {
    /// The state folder (`.chorale` by default).
    pub state_dir: PathBuf,
    /// The state database.
    pub store: Store,
    /// The runners.
    pub runners: Runners,
}

impl Context {
    /// Open the state in `state_dir`, using `database_url` instead of `STATE/state.db` if given.
    pub async fn open(
        state_dir: &Path,
        database_url: Option<&str>,
        registry: RegistryOptions,
    ) -> Result<Self, StoreError> {
        let store = match database_url {
            Some(url) => Store::open(url).await?,
            None => Store::open_in(state_dir).await?,
        };
        Ok(Self {
            state_dir: state_dir.to_owned(),
            store,
            runners: Runners::new(state_dir, registry),
        })
    }
}

//! The helm CLI: install or upgrade a release from a packaged chart, run its test hooks,
//! uninstall it.
//!
//! helm runs with `KUBECONFIG` set to the cluster's kubeconfig and its own cache and
//! configuration folders (`HELM_*` left as they are). Every call returns everything helm
//! printed, also when it fails ([`HelmError::Failed`] carries the [`HelmOutput`]), so the
//! pipeline can record it. Calls are cancel-safe: dropping the future kills helm.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::Command;

use crate::errors::HelmError;
use crate::process;

/// The helm version Chorale supports and `infra/dev/install` installs.
pub const HELM_VERSION: &str = "3.10.1";

/// The variable that names the helm binary.
pub const HELM_VARIABLE: &str = "CHORALE_HELM";

/// helm pointed at one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Helm {
    binary: PathBuf,
    kubeconfig: PathBuf,
}

/// A release to install or upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The release name.
    pub name: String,
    /// The namespace (created if it does not exist).
    pub namespace: String,
    /// The packaged chart, a `.tgz`.
    pub chart: PathBuf,
    /// Values files, applied in order (later ones win).
    pub values: Vec<PathBuf>,
    /// How long helm may wait for the release's resources to be ready.
    pub timeout: Duration,
}

/// What a helm command printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HelmOutput {
    /// The command line, for display.
    pub command: String,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
    /// How long it ran.
    pub duration: Duration,
}

impl Helm {
    /// Finds helm: `$CHORALE_HELM` (a path, or a name looked up on `PATH`), else `helm` on
    /// `PATH`.
    pub fn locate() -> Result<PathBuf, HelmError> {
        let program = std::env::var(HELM_VARIABLE)
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| "helm".to_owned());
        process::find_program(&program, None).ok_or(HelmError::Missing { program })
    }

    /// helm `binary` acting on the cluster of `kubeconfig`.
    pub fn new(binary: PathBuf, kubeconfig: PathBuf) -> Self {
        Self { binary, kubeconfig }
    }

    /// The helm binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The kubeconfig helm uses.
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `helm upgrade --install` of `release`: creates the namespace if needed, waits until
    /// the release's resources are ready, and rolls back (or uninstalls a first install) when
    /// they are not within the release's timeout (`--atomic`).
    pub async fn upgrade_install(&self, release: &Release) -> Result<HelmOutput, HelmError> {
        let mut args: Vec<OsString> = vec![
            "upgrade".into(),
            "--install".into(),
            release.name.clone().into(),
            release.chart.clone().into(),
            "--namespace".into(),
            release.namespace.clone().into(),
            "--create-namespace".into(),
            "--wait".into(),
            "--atomic".into(),
            "--timeout".into(),
            seconds(release.timeout).into(),
        ];
        for values in &release.values {
            args.push("--values".into());
            args.push(values.clone().into());
        }
        let what = format!(
            "upgrade --install of release {} in namespace {}",
            release.name, release.namespace
        );
        self.run(what, args).await
    }

    /// `helm test --logs`: runs the release's test hooks and prints their pods' logs.
    pub async fn test(
        &self,
        release: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<HelmOutput, HelmError> {
        let args = vec![
            "test".into(),
            release.into(),
            "--namespace".into(),
            namespace.into(),
            "--logs".into(),
            "--timeout".into(),
            seconds(timeout).into(),
        ];
        self.run(
            format!("test of release {release} in namespace {namespace}"),
            args,
        )
        .await
    }

    /// `helm uninstall --wait`: deletes the release and waits until its resources are gone.
    /// A release that does not exist is fine.
    pub async fn uninstall(
        &self,
        release: &str,
        namespace: &str,
        timeout: Duration,
    ) -> Result<HelmOutput, HelmError> {
        let args = vec![
            "uninstall".into(),
            release.into(),
            "--namespace".into(),
            namespace.into(),
            "--wait".into(),
            "--timeout".into(),
            seconds(timeout).into(),
        ];
        let what = format!("uninstall of release {release} in namespace {namespace}");
        match self.run(what, args).await {
            // helm 3.10 has no --ignore-not-found.
            Err(HelmError::Failed { output, .. })
                if output.stderr.contains("release: not found") =>
            {
                Ok(output)
            }
            result => result,
        }
    }

    /// Runs helm with `args`; a non-zero exit is [`HelmError::Failed`] with everything helm
    /// printed.
    async fn run(&self, what: String, args: Vec<OsString>) -> Result<HelmOutput, HelmError> {
        let mut command = Command::new(&self.binary);
        command.args(args).env("KUBECONFIG", &self.kubeconfig);
        let line = process::describe(&command);
        let finished = process::run(&mut command)
            .await
            .map_err(|error| HelmError::Spawn {
                command: line.clone(),
                message: error.to_string(),
            })?;
        let output = HelmOutput {
            command: line,
            stdout: finished.stdout,
            stderr: finished.stderr,
            duration: finished.duration,
        };
        if finished.status.success() {
            Ok(output)
        } else {
            Err(HelmError::Failed {
                what,
                exit: finished.status.code(),
                output,
            })
        }
    }
}

/// A helm duration in whole seconds, at least one.
fn seconds(duration: Duration) -> String {
    format!("{}s", duration.as_secs().max(1))
}

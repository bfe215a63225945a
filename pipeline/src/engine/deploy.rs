//! The deploy stage: every component's chart from the bundle, installed with helm in
//! dependency waves, the components of a wave in parallel up to a limit. A component whose
//! dependency failed or was skipped is skipped; the others go on, so the report shows as much
//! as can be known. A component whose pods are blocked (an image that cannot be pulled, no
//! node, an unbound claim) fails with that reason once it has lasted, not at helm's timeout;
//! its pods are found by helm's convention label `app.kubernetes.io/instance=RELEASE`.

use std::path::Path;
use std::time::Duration;

use chorale_runners::HelmError;
use chorale_runners::helm::Release;
use futures::StreamExt;
use jiff::Timestamp;

use crate::bundle::FetchedBundle;
use crate::errors::Error;
use crate::resources::build::{Build, ComponentDeploy, Status};
use crate::waves::deploy_waves;

use super::BLOCKED_AFTER;
use super::events::BuildEvent;
use super::recorder::Recorder;
use super::seams::{ClusterApi, Releases};
use super::testing::INSTANCE_LABEL;

/// Where and how components are deployed.
pub(super) struct Target<'a> {
    /// helm, on the build's cluster.
    pub helm: &'a dyn Releases,
    /// The cluster's API, to see pods that are blocked.
    pub kube: &'a dyn ClusterApi,
    /// The namespace every release goes to.
    pub namespace: &'a str,
    /// The bundle's files.
    pub bundle: &'a FetchedBundle,
    /// Components deployed at once at most.
    pub parallelism: usize,
    /// One component's helm timeout.
    pub timeout: Duration,
    /// The build's folder (helm output goes to `deploy/COMPONENT.log`).
    pub dir: &'a Path,
}

/// Deploy every component of the bundle, recording each one's status, timing and helm output
/// in `build` (saved after every change). Returns whether every component deployed; errors
/// only when the store or the build folder fails.
pub(super) async fn deploy(
    recorder: Recorder<'_>,
    build: &mut Build,
    target: &Target<'_>,
) -> Result<bool, Error> {
    let lock = &target.bundle.lock;
    let waves = deploy_waves(lock);
    build.components = waves
        .iter()
        .enumerate()
        .flat_map(|(wave, names)| {
            names.iter().map(move |name| ComponentDeploy {
                component: name.clone(),
                wave: wave as u32,
                status: Status::Pending,
                started_at: None,
                finished_at: None,
                message: None,
                log: None,
            })
        })
        .collect();
    recorder.save(build).await?;
    let logs = target.dir.join("deploy");
    std::fs::create_dir_all(&logs).map_err(|source| Error::Io {
        path: logs.clone(),
        source,
    })?;

    for wave in &waves {
        let mut ready = Vec::new();
        for name in wave {
            let blocked: Vec<String> = lock
                .component(name)
                .map(|c| c.depends_on.clone())
                .unwrap_or_default()
                .into_iter()
                .filter(|dependency| {
                    build
                        .components
                        .iter()
                        .any(|d| &d.component == dependency && d.status != Status::Succeeded)
                })
                .collect();
            let deploy = component_mut(build, name);
            if blocked.is_empty() {
                deploy.status = Status::Running;
                ready.push(name.clone());
            } else {
                deploy.status = Status::Skipped;
                deploy.message = Some(format!(
                    "not deployed: {} did not deploy",
                    blocked.join(", ")
                ));
            }
        }
        recorder.save(build).await?;

        let mut installs = futures::stream::iter(ready.into_iter().map(|name| {
            let logs = &logs;
            async move {
                let started = Timestamp::now();
                let files = &target.bundle.components[&name];
                let release = Release {
                    name: name.clone(),
                    namespace: target.namespace.to_owned(),
                    chart: files.chart.clone(),
                    values: vec![files.values.clone()],
                    timeout: target.timeout,
                };
                let selector = format!("{INSTANCE_LABEL}={name}");
                // helm is stopped (its process killed) when a pod of the release is blocked.
                let outcome = tokio::select! {
                    outcome = target.helm.upgrade_install(&release) => Ok(outcome),
                    blocked = Box::pin(target.kube.blocked(target.namespace, &selector, BLOCKED_AFTER)) => {
                        Err(blocked)
                    }
                };
                let log = logs.join(format!("{name}.log"));
                (name, started, outcome, log)
            }
        }))
        .buffer_unordered(target.parallelism);
        while let Some((name, started, outcome, log)) = installs.next().await {
            let (status, message, text) = match outcome {
                Ok(Ok(output)) => (Status::Succeeded, None, Some(helm_log(&output))),
                Ok(Err(HelmError::Failed { output, .. })) => {
                    let message = helm_failure(&output.stderr);
                    (Status::Failed, Some(message), Some(helm_log(&output)))
                }
                Ok(Err(error)) => (Status::Failed, Some(error.to_string()), None),
                Err(blocked) => {
                    let message = format!("stopped helm: {blocked}");
                    (Status::Failed, Some(message.clone()), Some(message))
                }
            };
            let log_path = match text {
                Some(text) => {
                    std::fs::write(&log, text).map_err(|source| Error::Io {
                        path: log.clone(),
                        source,
                    })?;
                    Some(format!("deploy/{name}.log"))
                }
                None => None,
            };
            let deploy = component_mut(build, &name);
            deploy.status = status;
            deploy.started_at = Some(started);
            deploy.finished_at = Some(Timestamp::now());
            deploy.message = message;
            deploy.log = log_path;
            let message = deploy.message.clone();
            recorder.save(build).await?;
            recorder.tell(&BuildEvent::ComponentDeployed {
                component: name,
                status,
                message,
            });
        }
    }
    Ok(build
        .components
        .iter()
        .all(|c| c.status == Status::Succeeded))
}

fn component_mut<'b>(build: &'b mut Build, name: &str) -> &'b mut ComponentDeploy {
    build
        .components
        .iter_mut()
        .find(|c| c.component == name)
        .expect("every component of the lock has a deploy record")
}

/// What is kept of a helm run: the command and its output.
fn helm_log(output: &chorale_runners::helm::HelmOutput) -> String {
    format!("$ {}\n{}\n{}", output.command, output.stdout, output.stderr)
}

/// The line of helm's stderr that says what went wrong (`Error: …`), else its last line.
fn helm_failure(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    lines
        .iter()
        .rev()
        .find(|l| l.starts_with("Error:"))
        .or(lines.last())
        .map_or_else(|| "helm failed".to_owned(), |l| (*l).trim().to_owned())
}

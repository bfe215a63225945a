//! One container's life: pull, configure, run with podman in the pod's network namespace,
//! probe, wait, and restart with back-off as the restart policy says.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Container;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::env::{self, EnvContext};
use super::image::{self, PullError};
use super::probe::{ProbeLoop, ProbeTarget, probe_loop};
use super::status::{ContainerRuntime, State, Terminated};
use super::volumes::{SERVICE_ACCOUNT_PATH, SERVICE_ACCOUNT_VOLUME};
use super::worker::PodContext;
use crate::events::Kind;
use crate::object::{ObjectExt, now_rfc3339};

/// The first restart back-off; it doubles up to [`MAX_BACKOFF`].
const INITIAL_BACKOFF: Duration = Duration::from_secs(10);
/// The longest restart back-off.
const MAX_BACKOFF: Duration = Duration::from_mins(5);
/// A container that ran this long resets its back-off.
const BACKOFF_RESET: Duration = Duration::from_mins(10);
/// How often a container whose configuration is missing is retried.
const CONFIG_RETRY: Duration = Duration::from_secs(2);

/// One container of a pod to supervise.
#[derive(Debug)]
pub struct Run {
    /// The pod.
    pub pod: Arc<PodContext>,
    /// An init container.
    pub init: bool,
    /// Its index among the init or main containers.
    pub index: usize,
    /// Its spec.
    pub spec: Container,
}

impl Run {
    fn update(&self, change: impl FnOnce(&mut ContainerRuntime)) {
        let (init, index) = (self.init, self.index);
        self.pod
            .update(|state| change(state.container_mut(init, index)));
    }

    fn image(&self) -> String {
        self.spec.image.clone().unwrap_or_default()
    }

    fn restart_after(&self, exit_code: i32) -> bool {
        match self.pod.restart_policy() {
            "Never" => false,
            "OnFailure" => exit_code != 0,
            // Init containers of a pod that restarts always are restarted only on failure.
            _ if self.init => exit_code != 0,
            _ => true,
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    INITIAL_BACKOFF
        .saturating_mul(2_u32.saturating_pow(attempt))
        .min(MAX_BACKOFF)
}

/// Runs the container until its restart policy lets it stop; returns its last exit code.
pub async fn supervise(run: Run) -> Option<i32> {
    let mut attempt = 0_u32;
    loop {
        let started = Instant::now();
        let exit = run_once(&run).await;
        if started.elapsed() > BACKOFF_RESET {
            attempt = 0;
        }
        if !run.restart_after(exit) {
            run.update(|c| c.finished = true);
            return Some(exit);
        }
        let delay = backoff(attempt);
        attempt += 1;
        let name = run.spec.name.clone();
        run.pod.event(
            Kind::Warning,
            "BackOff",
            &format!(
                "Back-off restarting failed container {name} in pod {}",
                run.pod.pod.name()
            ),
        );
        run.update(|c| {
            if let State::Terminated(t) = &c.state {
                c.last_terminated = Some(t.clone());
            }
            c.state = State::Waiting {
                reason: "CrashLoopBackOff".into(),
                message: Some(format!(
                    "back-off {}s restarting failed container={name}",
                    delay.as_secs()
                )),
            };
        });
        tokio::time::sleep(delay).await;
        // The run that just ended becomes the previous one (`kubectl logs --previous`); the
        // one before it is removed.
        let mut displaced = None;
        run.update(|c| {
            c.restart_count += 1;
            displaced = c.previous.take();
            c.previous = c.current.take();
        });
        if let Some(older) = displaced {
            let _ = run
                .pod
                .ctx
                .podman
                .run(&["rm", "-f", "-t", "0", &older])
                .await;
        }
    }
}

/// Pulls the image until it is there, showing `ErrImagePull` and `ImagePullBackOff`.
async fn pull(run: &Run) -> String {
    let ctx = &run.pod.ctx;
    let image = run.image();
    let policy = run
        .spec
        .image_pull_policy
        .clone()
        .unwrap_or_else(|| "IfNotPresent".into());
    let known = ctx
        .images
        .lock()
        .expect("images lock poisoned")
        .get(&image)
        .cloned();
    if let Some(id) = known.filter(|_| policy != "Always") {
        run.pod.event(
            Kind::Normal,
            "Pulled",
            &format!("Container image \"{image}\" already present on machine"),
        );
        return id;
    }
    let mut attempt = 0_u32;
    loop {
        run.pod.event(
            Kind::Normal,
            "Pulling",
            &format!("Pulling image \"{image}\""),
        );
        let auth_file = pull_credentials(run);
        let pulled = image::ensure(
            &ctx.podman,
            &image,
            &policy,
            &ctx.insecure_registries,
            auth_file.as_deref(),
        )
        .await;
        if let Some(file) = &auth_file {
            let _ = std::fs::remove_file(file);
        }
        match pulled {
            Ok(id) => {
                run.pod.event(
                    Kind::Normal,
                    "Pulled",
                    &format!("Successfully pulled image \"{image}\""),
                );
                ctx.images
                    .lock()
                    .expect("images lock poisoned")
                    .insert(image, id.clone());
                return id;
            }
            Err(error) => {
                let (reason, message) = match error {
                    PullError::Failed(message) => ("ErrImagePull", message),
                    PullError::NeverPull(message) => ("ErrImageNeverPull", message),
                };
                tracing::info!(image = %image, %message, "image not available");
                run.pod.event(Kind::Warning, "Failed", &message);
                run.update(|c| {
                    c.state = State::Waiting {
                        reason: reason.into(),
                        message: Some(message),
                    };
                });
                let delay = backoff(attempt);
                attempt += 1;
                tokio::time::sleep(Duration::from_secs(2).min(delay)).await;
                let back_off = format!("Back-off pulling image \"{image}\"");
                run.pod.event(Kind::Normal, "BackOff", &back_off);
                run.update(|c| {
                    c.state = State::Waiting {
                        reason: "ImagePullBackOff".into(),
                        message: Some(back_off),
                    };
                });
                tokio::time::sleep(delay.saturating_sub(Duration::from_secs(2))).await;
            }
        }
    }
}

/// Writes the credentials of the pod's pull secrets (its own and its service account's) to a
/// private file for `podman pull --authfile`.
fn pull_credentials(run: &Run) -> Option<std::path::PathBuf> {
    let pod = &run.pod;
    let spec = pod.typed.spec.as_ref()?;
    let mut names: Vec<String> = spec
        .image_pull_secrets
        .iter()
        .flatten()
        .map(|s| s.name.clone())
        .collect();
    let account = spec.service_account_name.as_deref().unwrap_or("default");
    let accounts = crate::catalog::ResourceKey::new("", "serviceaccounts");
    if let Some(account) = pod
        .ctx
        .storage
        .store
        .get(&accounts, pod.pod.namespace(), account)
    {
        names.extend(
            account
                .get("imagePullSecrets")
                .and_then(serde_json::Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|s| {
                    s.get("name")
                        .and_then(serde_json::Value::as_str)
                        .map(str::to_owned)
                }),
        );
    }
    let auth = image::registry_auth(&pod.ctx.storage.store, pod.pod.namespace(), &names)?;
    let file = pod.dir.join(format!("{}.auth.json", run.spec.name));
    crate::kubeconfig::write_private(&file, auth.to_string().as_bytes()).ok()?;
    Some(file)
}

/// The environment, retried until every non-optional source exists.
async fn environment(run: &Run) -> Vec<(String, String)> {
    let pod = &run.pod;
    loop {
        let host_ip = pod.ctx.network.gateway.to_string();
        let context = EnvContext {
            store: &pod.ctx.storage.store,
            pod: &pod.pod,
            typed: &pod.typed,
            pod_ip: &pod.pod_ip,
            host_ip: &host_ip,
        };
        match env::build(&context, &run.spec) {
            Ok(env) => return env,
            Err(message) => {
                run.pod
                    .event(Kind::Warning, "Failed", &format!("Error: {message}"));
                run.update(|c| {
                    c.state = State::Waiting {
                        reason: "CreateContainerConfigError".into(),
                        message: Some(message),
                    };
                });
                tokio::time::sleep(CONFIG_RETRY).await;
            }
        }
    }
}

/// The `podman run` arguments (without the environment values, which go through a file).
fn run_args(
    run: &Run,
    name: &str,
    env_file: &str,
    env: &[(String, String)],
    termination_log: &Path,
) -> Vec<String> {
    let pod = &run.pod;
    let spec = &run.spec;
    let mut args: Vec<String> = vec![
        "run".into(),
        "-d".into(),
        "--pod".into(),
        pod.podman_pod.clone(),
        "--name".into(),
        name.to_owned(),
        "--label".into(),
        pod.ctx.podman.label(),
        "--pull".into(),
        "never".into(),
        "--env-file".into(),
        env_file.to_owned(),
    ];
    for (key, value) in env {
        if value.contains('\n') {
            args.extend(["--env".into(), key.clone()]);
        }
    }
    let variables: BTreeMap<String, String> = env.iter().cloned().collect();
    if let Some(command) = &spec.command {
        let expanded: Vec<String> = command.iter().map(|c| env::expand(c, &variables)).collect();
        args.extend([
            "--entrypoint".into(),
            serde_json::to_string(&expanded).unwrap_or_default(),
        ]);
    }
    if let Some(dir) = &spec.working_dir {
        args.extend(["--workdir".into(), dir.clone()]);
    }
    let pod_security = pod
        .typed
        .spec
        .as_ref()
        .and_then(|s| s.security_context.as_ref());
    let security = spec.security_context.as_ref();
    let user = security
        .and_then(|s| s.run_as_user)
        .or_else(|| pod_security.and_then(|s| s.run_as_user));
    let group = security
        .and_then(|s| s.run_as_group)
        .or_else(|| pod_security.and_then(|s| s.run_as_group));
    match (user, group) {
        (Some(u), Some(g)) => args.extend(["--user".into(), format!("{u}:{g}")]),
        (Some(u), None) => args.extend(["--user".into(), u.to_string()]),
        _ => {}
    }
    if security.and_then(|s| s.privileged) == Some(true) {
        args.push("--privileged".into());
    }
    if security.and_then(|s| s.read_only_root_filesystem) == Some(true) {
        args.push("--read-only".into());
    }
    if spec.tty == Some(true) {
        args.push("--tty".into());
    }
    let mut mounted_service_account = false;
    for mount in spec.volume_mounts.iter().flatten() {
        let Some(source) = pod.volumes.get(&mount.name) else {
            continue;
        };
        let source = match &mount.sub_path {
            Some(sub) if !sub.is_empty() => {
                let path = source.join(sub);
                if !path.exists() {
                    let _ = std::fs::create_dir_all(&path);
                }
                path
            }
            _ => source.clone(),
        };
        mounted_service_account |= mount.mount_path.trim_end_matches('/') == SERVICE_ACCOUNT_PATH;
        let read_only = if mount.read_only == Some(true) {
            ",ro=true"
        } else {
            ""
        };
        args.push(format!(
            "--mount=type=bind,source={},destination={}{read_only}",
            source.display(),
            mount.mount_path
        ));
    }
    if !mounted_service_account && let Some(source) = pod.volumes.get(SERVICE_ACCOUNT_VOLUME) {
        args.push(format!(
            "--mount=type=bind,source={},destination={SERVICE_ACCOUNT_PATH},ro=true",
            source.display()
        ));
    }
    let message_path = spec
        .termination_message_path
        .as_deref()
        .unwrap_or("/dev/termination-log");
    args.push(format!(
        "--mount=type=bind,source={},destination={message_path}",
        termination_log.display()
    ));
    args.push(run.image());
    for arg in spec.args.iter().flatten() {
        args.push(env::expand(arg, &variables));
    }
    args
}

/// One run: returns the exit code (128 and up when the container could not start).
async fn run_once(run: &Run) -> i32 {
    let pod = &run.pod;
    let ctx = &pod.ctx;
    let image_id = pull(run).await;
    run.update(|c| {
        c.image_id = image_id;
        c.state = State::Waiting {
            reason: "ContainerCreating".into(),
            message: None,
        };
    });
    let env = environment(run).await;
    let restart = pod
        .runtime
        .lock()
        .expect("pod runtime lock poisoned")
        .container_mut(run.init, run.index)
        .restart_count;
    let name = format!("{}.{}.{restart}", pod.podman_pod, run.spec.name);
    let env_file = pod.dir.join(format!("{}.env", run.spec.name));
    let lines =
        env.iter()
            .filter(|(_, v)| !v.contains('\n'))
            .fold(String::new(), |mut lines, (k, v)| {
                use std::fmt::Write as _;
                let _ = writeln!(lines, "{k}={v}");
                lines
            });
    if let Err(error) = crate::kubeconfig::write_private(&env_file, lines.as_bytes()) {
        tracing::warn!(%error, "writing the container environment");
    }
    let termination_log = pod
        .dir
        .join(format!("{}.{restart}.termination-log", run.spec.name));
    if let Err(error) = std::fs::write(&termination_log, b"").and_then(|()| {
        std::fs::set_permissions(&termination_log, std::fs::Permissions::from_mode(0o666))
    }) {
        tracing::warn!(%error, "creating the termination message file");
    }
    let args = run_args(
        run,
        &name,
        &env_file.to_string_lossy(),
        &env,
        &termination_log,
    );
    let multiline: Vec<(String, String)> =
        env.into_iter().filter(|(_, v)| v.contains('\n')).collect();
    let started_at = now_rfc3339();
    let mut exited = ctx.exits.register(&name);
    let result = crate::podman::run_with_env("podman", &args, &multiline).await;
    let _ = std::fs::remove_file(&env_file);
    let id = match result {
        Ok(id) => id,
        Err(error) => {
            ctx.exits.forget(&name);
            run.pod
                .event(Kind::Warning, "Failed", &format!("Error: {error}"));
            let message = match error {
                crate::errors::Error::Command { stderr, .. } => stderr,
                other => other.to_string(),
            };
            let _ = ctx.podman.run(&["rm", "-f", "-t", "0", &name]).await;
            run.update(|c| {
                c.ready = false;
                c.state = State::Terminated(Terminated {
                    exit_code: 128,
                    reason: "StartError".into(),
                    message: Some(message),
                    started_at: started_at.clone(),
                    finished_at: now_rfc3339(),
                    container_id: String::new(),
                });
            });
            return 128;
        }
    };
    let container_id = format!("podman://{id}");
    run.pod.event(
        Kind::Normal,
        "Created",
        &format!("Created container {}", run.spec.name),
    );
    run.pod.event(
        Kind::Normal,
        "Started",
        &format!("Started container {}", run.spec.name),
    );
    run.update(|c| c.current = Some(name.clone()));
    let has_startup = run.spec.startup_probe.is_some();
    let has_readiness = run.spec.readiness_probe.is_some();
    run.update(|c| {
        c.state = State::Running {
            started_at: started_at.clone(),
            container_id: container_id.clone(),
        };
        c.started = !has_startup;
        c.ready = !has_startup && !has_readiness;
    });
    let mut probes = JoinSet::new();
    let (kill_sender, mut kill) = mpsc::channel::<String>(1);
    if !run.init {
        let target = ProbeTarget {
            pod_ip: pod.pod_ip.clone(),
            ports: run.spec.ports.clone().unwrap_or_default(),
            container: name.clone(),
            podman: ctx.podman.clone(),
            http: ctx.http.clone(),
        };
        probes.spawn(probe_loop(
            ProbeLoop {
                startup: run.spec.startup_probe.clone(),
                readiness: run.spec.readiness_probe.clone(),
                liveness: run.spec.liveness_probe.clone(),
                target,
                pod: pod.clone(),
                init: run.init,
                index: run.index,
            },
            kill_sender,
        ));
    }
    let waited = tokio::select! {
        code = &mut exited => code,
        Some(reason) = kill.recv() => {
            tracing::info!(container = %name, probe = %reason, "a probe failed; restarting the container");
            pod.event(Kind::Warning, "Unhealthy", &format!("{reason} probe failed"));
            pod.event(
                Kind::Normal,
                "Killing",
                &format!("Container {} failed {} probe, will be restarted", run.spec.name, reason.to_lowercase()),
            );
            let grace = pod.typed.spec.as_ref().and_then(|s| s.termination_grace_period_seconds).unwrap_or(30).clamp(0, 30);
            let _ = ctx.podman.run(&["stop", "-t", &grace.to_string(), &name]).await;
            exited.await
        }
    };
    probes.abort_all();
    let exit_code = waited.unwrap_or(137);
    let message = termination_message(run, &name, &termination_log, exit_code).await;
    run.update(|c| {
        c.ready = false;
        c.started = false;
        c.state = State::Terminated(Terminated {
            exit_code,
            reason: if exit_code == 0 {
                "Completed".into()
            } else {
                "Error".into()
            },
            message,
            started_at: started_at.clone(),
            finished_at: now_rfc3339(),
            container_id: container_id.clone(),
        });
    });
    exit_code
}

/// The most a termination message keeps, as the kubelet limits it.
const MESSAGE_LIMIT: usize = 4096;
/// The most of the log a `FallbackToLogsOnError` message keeps.
const LOG_MESSAGE_LIMIT: usize = 2048;

/// What the container wrote to its termination message path, or (with
/// `FallbackToLogsOnError` and a failure) the end of its log.
async fn termination_message(
    run: &Run,
    container: &str,
    file: &Path,
    exit_code: i32,
) -> Option<String> {
    let written = std::fs::read(file).unwrap_or_default();
    let _ = std::fs::remove_file(file);
    let text = String::from_utf8_lossy(&written[..written.len().min(MESSAGE_LIMIT)]).into_owned();
    if !text.trim().is_empty() {
        return Some(text);
    }
    let fallback = run.spec.termination_message_policy.as_deref() == Some("FallbackToLogsOnError");
    if !fallback || exit_code == 0 {
        return None;
    }
    let logs = crate::podman::run(
        "sh",
        &[
            "-c".into(),
            "exec podman logs --tail 80 \"$1\" 2>&1".into(),
            "sh".into(),
            container.into(),
        ],
    )
    .await
    .ok()?;
    let start = logs.len().saturating_sub(LOG_MESSAGE_LIMIT);
    let start = (start..logs.len())
        .find(|i| logs.is_char_boundary(*i))
        .unwrap_or(logs.len());
    (!logs[start..].is_empty()).then(|| logs[start..].to_owned())
}

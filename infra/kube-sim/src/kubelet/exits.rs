//! Container exits for the whole cluster from one `podman events` stream (plus a slow sweep
//! with `podman ps` in case an event was missed), instead of one `podman wait` per container.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::podman::Podman;

/// How often exited containers are looked for directly.
const SWEEP: Duration = Duration::from_secs(15);

/// Waiters for container exits, by podman container name.
#[derive(Debug, Default)]
pub struct Exits {
    waiters: Mutex<HashMap<String, oneshot::Sender<i32>>>,
}

impl Exits {
    /// Registers interest in the exit of `container` (before it is started, so that no exit is
    /// missed).
    pub fn register(&self, container: &str) -> oneshot::Receiver<i32> {
        let (sender, receiver) = oneshot::channel();
        self.waiters
            .lock()
            .expect("exits lock poisoned")
            .insert(container.to_owned(), sender);
        receiver
    }

    /// Forgets a waiter (the container was never started).
    pub fn forget(&self, container: &str) {
        self.waiters
            .lock()
            .expect("exits lock poisoned")
            .remove(container);
    }

    fn deliver(&self, container: &str, code: i32) {
        let waiter = self
            .waiters
            .lock()
            .expect("exits lock poisoned")
            .remove(container);
        if let Some(waiter) = waiter {
            let _ = waiter.send(code);
        }
    }

    fn waiting(&self) -> bool {
        !self.waiters.lock().expect("exits lock poisoned").is_empty()
    }

    /// Follows podman's `died` events of the cluster's containers until `stop` is cancelled.
    pub async fn run(self: Arc<Self>, podman: Podman, stop: CancellationToken) {
        let sweeper = tokio::spawn(self.clone().sweep(podman.clone(), stop.clone()));
        let filter = format!("label={}", podman.label());
        while !stop.is_cancelled() {
            let child = crate::podman::watched(&[
                "events",
                "--filter",
                "event=died",
                "--filter",
                &filter,
                "--format",
                "json",
            ])
            .spawn();
            let mut child = match child {
                Ok(child) => child,
                Err(error) => {
                    tracing::warn!(%error, "could not follow podman events");
                    tokio::select! {
                        () = stop.cancelled() => break,
                        () = tokio::time::sleep(SWEEP) => continue,
                    }
                }
            };
            let Some(stdout) = child.stdout.take() else {
                break;
            };
            let mut lines = BufReader::new(stdout).lines();
            loop {
                let line = tokio::select! {
                    () = stop.cancelled() => break,
                    line = lines.next_line() => line,
                };
                let Ok(Some(line)) = line else { break };
                let Ok(event) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                if let Some(name) = event.get("Name").and_then(Value::as_str) {
                    let code = event
                        .get("ContainerExitCode")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    self.deliver(name, i32::try_from(code).unwrap_or(255));
                }
            }
            let _ = child.kill().await;
        }
        sweeper.abort();
    }

    /// Looks for exited containers that still have waiters.
    async fn sweep(self: Arc<Self>, podman: Podman, stop: CancellationToken) {
        let filter = format!("label={}", podman.label());
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(SWEEP) => {}
            }
            if !self.waiting() {
                continue;
            }
            let listed = podman
                .run(&[
                    "ps",
                    "-a",
                    "--filter",
                    &filter,
                    "--filter",
                    "status=exited",
                    "--format",
                    "{{.Names}} {{.ExitCode}}",
                ])
                .await;
            for line in listed.unwrap_or_default().lines() {
                if let Some((name, code)) = line.rsplit_once(' ') {
                    self.deliver(name, code.parse().unwrap_or(255));
                }
            }
        }
    }
}

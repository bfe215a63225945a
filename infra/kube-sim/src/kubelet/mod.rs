//! The kubelet of the one node: runs every pod scheduled onto it with podman, publishes pod
//! status, removes deleted pods once their containers stopped, and serves pod logs.

mod container;
mod data;
mod env;
mod exits;
mod image;
mod probe;
mod status;
mod volumes;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use secrecy::SecretString;
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::{broadcast, mpsc};
use tokio::task::AbortHandle;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::catalog::ResourceKey;
use crate::errors::ApiError;
use crate::network::ClusterNetwork;
use crate::object::ObjectExt;
use crate::podman::Podman;
use crate::server::{LogOptions, LogStream, PodLogs};
use crate::storage::Storage;
use crate::store::EventType;
use status::{PodRuntime, State};

#[derive(Debug)]
struct Worker {
    terminate: CancellationToken,
    force: CancellationToken,
    task: AbortHandle,
}

/// What pod workers share.
#[derive(Debug)]
pub struct Context {
    storage: Arc<Storage>,
    podman: Podman,
    network: ClusterNetwork,
    volumes_dir: PathBuf,
    insecure_registries: Vec<String>,
    ca_pem: String,
    token: SecretString,
    http: reqwest::Client,
    workers: Mutex<HashMap<String, Worker>>,
    runtimes: Mutex<HashMap<String, Arc<Mutex<PodRuntime>>>>,
    /// Image ids of images this kubelet made sure of, by reference.
    images: Mutex<HashMap<String, String>>,
    /// Container exits.
    exits: Arc<exits::Exits>,
}

/// The kubelet.
#[derive(Debug)]
pub struct Kubelet {
    ctx: Arc<Context>,
}

impl Kubelet {
    /// A kubelet for the node of the cluster.
    pub fn new(
        storage: Arc<Storage>,
        podman: Podman,
        network: ClusterNetwork,
        volumes_dir: PathBuf,
        insecure_registries: Vec<String>,
        ca_pem: String,
        token: SecretString,
    ) -> Self {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .unwrap_or_default();
        Self {
            ctx: Arc::new(Context {
                storage,
                podman,
                network,
                volumes_dir,
                insecure_registries,
                ca_pem,
                token,
                http,
                workers: Mutex::new(HashMap::new()),
                runtimes: Mutex::new(HashMap::new()),
                images: Mutex::new(HashMap::new()),
                exits: Arc::new(exits::Exits::default()),
            }),
        }
    }

    /// Runs pods as they are created and deleted until `stop` is cancelled.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        let pods = ResourceKey::new("", "pods");
        tokio::spawn(
            self.ctx
                .exits
                .clone()
                .run(self.ctx.podman.clone(), stop.clone()),
        );
        let mut events = self.ctx.storage.store.events();
        let (existing, _) = self.ctx.storage.store.list(&pods, None);
        for pod in existing {
            self.observe(&pod, false);
        }
        loop {
            let event = tokio::select! {
                () = stop.cancelled() => return,
                event = events.recv() => event,
            };
            match event {
                Ok(event) if event.key == pods => {
                    self.observe(&event.object, event.kind == EventType::Deleted);
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let (existing, _) = self.ctx.storage.store.list(&pods, None);
                    for pod in existing {
                        self.observe(&pod, false);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn observe(&self, pod: &Value, removed: bool) {
        let uid = pod.uid().to_owned();
        let mut workers = self.ctx.workers.lock().expect("workers lock poisoned");
        if let Some(worker) = workers.get(&uid) {
            if removed {
                worker.force.cancel();
            }
            if removed || pod.is_deleting() {
                worker.terminate.cancel();
            }
            return;
        }
        if removed
            || pod.str_at("/spec/nodeName") != Some(self.ctx.storage.admission.node_name.as_str())
        {
            return;
        }
        if matches!(pod.str_at("/status/phase"), Some("Succeeded" | "Failed")) && !pod.is_deleting()
        {
            return;
        }
        if pod.is_deleting() {
            let pods = self.ctx.storage.resource("", "pods");
            self.ctx
                .storage
                .remove(&pods, pod.namespace(), pod.name(), &uid);
            return;
        }
        let terminate = CancellationToken::new();
        let force = CancellationToken::new();
        let task = tokio::spawn(worker::run(
            self.ctx.clone(),
            pod.clone(),
            terminate.clone(),
            force.clone(),
        ));
        workers.insert(
            uid,
            Worker {
                terminate,
                force,
                task: task.abort_handle(),
            },
        );
    }

    /// Stops every pod worker at once (the cluster is going away; podman objects are removed
    /// by label afterwards).
    pub fn stop_all(&self) {
        let workers: Vec<Worker> = self
            .ctx
            .workers
            .lock()
            .expect("workers lock poisoned")
            .drain()
            .map(|(_, w)| w)
            .collect();
        for worker in workers {
            worker.task.abort();
        }
    }
}

impl PodLogs for Kubelet {
    fn open(&self, pod: &Value, options: &LogOptions) -> Result<LogStream, ApiError> {
        let runtime = self
            .ctx
            .runtimes
            .lock()
            .expect("runtimes lock poisoned")
            .get(pod.uid())
            .cloned();
        let waiting = |reason: &str| {
            ApiError::bad_request(format!(
                "container \"{}\" in pod \"{}\" is waiting to start: {reason}",
                options.container,
                pod.name()
            ))
        };
        let Some(runtime) = runtime else {
            return Err(waiting("ContainerCreating"));
        };
        let container = {
            let state = runtime.lock().expect("pod runtime lock poisoned");
            let Some(container) = state.find(&options.container) else {
                return Err(waiting("ContainerCreating"));
            };
            let chosen = if options.previous {
                container.previous.clone()
            } else {
                container.current.clone()
            };
            match (chosen, &container.state) {
                (Some(name), _) => name,
                (None, _) if options.previous => {
                    return Err(ApiError::bad_request(format!(
                        "previous terminated container \"{}\" in pod \"{}\" not found",
                        options.container,
                        pod.name()
                    )));
                }
                (None, State::Waiting { reason, .. }) => return Err(waiting(reason)),
                (None, _) => return Err(waiting("ContainerCreating")),
            }
        };
        let mut args: Vec<String> = vec!["logs".into()];
        if options.follow {
            args.push("--follow".into());
        }
        if let Some(tail) = options.tail_lines {
            args.extend(["--tail".into(), tail.to_string()]);
        }
        if options.timestamps {
            args.push("--timestamps".into());
        }
        if let Some(seconds) = options.since_seconds {
            args.extend(["--since".into(), format!("{seconds}s")]);
        } else if let Some(time) = &options.since_time {
            args.extend(["--since".into(), time.clone()]);
        }
        args.push(container);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = crate::podman::watched(&args)
            .spawn()
            .map_err(|e| ApiError::internal(format!("could not run podman logs: {e}")))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| ApiError::internal("podman logs has no output"))?;
        let (sender, receiver) = mpsc::channel(16);
        tokio::spawn(async move {
            let mut buffer = vec![0_u8; 16 * 1024];
            loop {
                tokio::select! {
                    () = sender.closed() => break,
                    read = stdout.read(&mut buffer) => match read {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if sender.send(Ok(Bytes::copy_from_slice(&buffer[..n]))).await.is_err() {
                                break;
                            }
                        }
                    },
                }
            }
            let _ = child.kill().await;
        });
        Ok(Box::pin(ReceiverStream::new(receiver)))
    }
}

//! The test stage: every test of the bundle's plan, in plan order, each within its timeout
//! (retries included), each leaving JUnit documents and pod logs in the build's folder
//! (`tests/NAME/`).
//!
//! Chorale's own checks (`workloads-ready`, `helm-test`, `pod-restart`) are retried here; an
//! in-cluster Job retries itself (its `backoffLimit`), and its pods are its attempts.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use chorale_runners::HelmError;
use chorale_runners::KubeError;
use chorale_runners::kube::{JobResult, PodSummary, Workload};
use chorale_test_jobs::results::{
    COLLECTOR_CONTAINER, Failure, JobFailure, JobStatus, ResultFile, TestCase, TestSuite,
    junit_documents, parse_collector_log,
};
use chorale_test_jobs::{Action, BuildContext, PlannedTest};
use futures::StreamExt;
use jiff::Timestamp;
use tokio::time::{Instant, sleep};

use crate::errors::Error;
use crate::resources::build::{Build, Status, TestArtefacts, TestRun};

use super::events::BuildEvent;
use super::recorder::Recorder;
use super::seams::{ClusterApi, Releases};

/// How often Chorale's own checks look at the cluster.
const POLL: Duration = Duration::from_secs(1);

/// Extra time a Job gets beyond its own deadline before Chorale stops waiting.
const JOB_GRACE: Duration = Duration::from_secs(30);

/// The label helm puts on every object of a release.
pub(super) const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// What the tests run against.
pub(super) struct Environment<'a> {
    /// The cluster's API.
    pub kube: &'a dyn ClusterApi,
    /// helm, on the cluster.
    pub helm: &'a dyn Releases,
    /// Where the product is deployed.
    pub namespace: &'a str,
    /// What Job templates are rendered with.
    pub context: &'a BuildContext,
    /// The build's folder.
    pub dir: &'a Path,
    /// Checks run at once at most (`helm test` of several releases).
    pub parallelism: usize,
}

/// Run every test of `plan`, recording each in `build` as it starts and ends. Errors only when
/// the store or the build folder fails; a test that fails (or whose cluster calls fail) is a
/// failed test.
pub(super) async fn run_plan(
    recorder: Recorder<'_>,
    build: &mut Build,
    plan: &[PlannedTest],
    environment: &Environment<'_>,
) -> Result<(), Error> {
    build.tests = plan
        .iter()
        .map(|test| TestRun {
            name: test.name.clone(),
            uses: test.uses.clone(),
            gate: test.gate,
            status: Status::Pending,
            attempts: 0,
            started_at: None,
            finished_at: None,
            message: None,
            artefacts: TestArtefacts::default(),
        })
        .collect();
    recorder.save(build).await?;
    for (index, test) in plan.iter().enumerate() {
        build.tests[index].status = Status::Running;
        build.tests[index].started_at = Some(Timestamp::now());
        recorder.save(build).await?;
        recorder.tell(&BuildEvent::TestStarted {
            test: test.name.clone(),
        });
        let dir = environment.dir.join("tests").join(&test.name);
        let outcome = run_test(test, environment).await;
        let run = &mut build.tests[index];
        run.finished_at = Some(Timestamp::now());
        run.attempts = outcome.attempts;
        run.status = if outcome.passed {
            Status::Succeeded
        } else {
            Status::Failed
        };
        run.artefacts = outcome
            .write(&dir, environment.dir)
            .map_err(|source| Error::Io {
                path: dir.clone(),
                source,
            })?;
        run.message = outcome.message;
        let ended = BuildEvent::TestEnded {
            test: run.name.clone(),
            status: run.status,
            attempts: run.attempts,
        };
        recorder.save(build).await?;
        recorder.tell(&ended);
    }
    Ok(())
}

/// How a test ended.
#[derive(Debug, Default)]
struct Outcome {
    passed: bool,
    attempts: u32,
    message: Option<String>,
    /// JUnit documents of the last attempt: file name → XML.
    junit: BTreeMap<String, String>,
    /// Logs of every attempt: file name (under `logs/`) → text.
    logs: BTreeMap<String, String>,
}

impl Outcome {
    /// Write the documents and logs under `dir`; their paths relative to `build_dir`.
    fn write(&self, dir: &Path, build_dir: &Path) -> std::io::Result<TestArtefacts> {
        let mut artefacts = TestArtefacts::default();
        for (folder, files, list) in [
            ("junit", &self.junit, &mut artefacts.junit),
            ("logs", &self.logs, &mut artefacts.logs),
        ] {
            for (name, text) in files {
                let path = dir.join(folder).join(name);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&path, text)?;
                list.push(relative(&path, build_dir));
            }
        }
        Ok(artefacts)
    }
}

fn relative(path: &Path, base: &Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Run one test within its timeout.
async fn run_test(test: &PlannedTest, environment: &Environment<'_>) -> Outcome {
    let deadline = Instant::now() + test.timeout;
    match &test.action {
        Action::InCluster(_) => run_job(test, environment, deadline).await,
        action => {
            let mut outcome = Outcome::default();
            for attempt in 1..=test.retries + 1 {
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    break;
                }
                outcome.attempts = attempt;
                let check = Check {
                    test,
                    environment,
                    deadline,
                    attempt,
                };
                let suite =
                    match tokio::time::timeout(remaining, check.run(action, &mut outcome)).await {
                        Ok(suite) => suite,
                        Err(_) => TestSuite {
                            name: test.name.clone(),
                            cases: vec![failed_case(
                                &test.name,
                                &format!("timed out after {}", humantime(test.timeout)),
                                String::new(),
                            )],
                        },
                    };
                let failures: Vec<&TestCase> =
                    suite.cases.iter().filter(|c| c.failure.is_some()).collect();
                outcome.passed = failures.is_empty();
                outcome.message = failures.first().map(|case| {
                    let failure = case.failure.as_ref().expect("a failed case");
                    format!("{}: {}", case.name, failure.message)
                });
                outcome.junit = BTreeMap::from([(format!("{}.xml", test.name), suite.to_xml())]);
                if outcome.passed {
                    break;
                }
            }
            if outcome.attempts == 0 {
                outcome.message = Some("no time left to run".to_owned());
            }
            outcome
        }
    }
}

/// One attempt of one of Chorale's own checks.
struct Check<'a> {
    test: &'a PlannedTest,
    environment: &'a Environment<'a>,
    deadline: Instant,
    attempt: u32,
}

impl Check<'_> {
    async fn run(&self, action: &Action, outcome: &mut Outcome) -> TestSuite {
        let cases = match action {
            Action::WorkloadsReady { settle } => self.workloads_ready(*settle).await,
            Action::HelmTest { components } => self.helm_test(components, outcome).await,
            Action::PodRestart { components, settle } => {
                self.pod_restart(components, *settle).await
            }
            Action::InCluster(_) => unreachable!("in-cluster tests run as Jobs"),
        };
        TestSuite {
            name: self.test.name.clone(),
            cases,
        }
    }

    /// Every workload ready, then staying ready with no restart for `settle`.
    async fn workloads_ready(&self, settle: Duration) -> Vec<TestCase> {
        let kube = self.environment.kube;
        let namespace = self.environment.namespace;
        let started = Instant::now();
        let workloads = loop {
            match kube.workloads(namespace, None).await {
                Ok(workloads)
                    if workloads.iter().all(Workload::is_ready)
                        || Instant::now() + POLL >= self.deadline =>
                {
                    break Ok(workloads);
                }
                Ok(_) => sleep(POLL).await,
                Err(error) => break Err(error),
            }
        };
        let workloads = match workloads {
            Ok(workloads) => workloads,
            Err(error) => return vec![failed_case("workloads", &error.to_string(), String::new())],
        };
        let mut failures: BTreeMap<String, String> = workloads
            .iter()
            .filter(|w| !w.is_ready())
            .map(|w| (workload_name(w), not_ready(w)))
            .collect();
        if failures.is_empty() {
            let restarts = pod_restarts(kube, namespace).await;
            let settle_end = Instant::now() + settle;
            while Instant::now() < settle_end {
                sleep(POLL.min(settle_end.saturating_duration_since(Instant::now()))).await;
                if let Ok(now) = kube.workloads(namespace, None).await {
                    for w in now.iter().filter(|w| !w.is_ready()) {
                        failures
                            .entry(workload_name(w))
                            .or_insert_with(|| format!("stopped being ready: {}", not_ready(w)));
                    }
                }
            }
            let after = pod_restarts(kube, namespace).await;
            for (pod, count) in &after {
                if count > restarts.get(pod).unwrap_or(&0) {
                    let owner = workloads
                        .iter()
                        .find(|w| pod.starts_with(&format!("{}-", w.name)))
                        .map_or_else(|| format!("Pod/{pod}"), workload_name);
                    failures
                        .entry(owner)
                        .or_insert_with(|| format!("pod {pod} restarted during the settle period"));
                }
            }
        }
        let pods = kube.pods(namespace, None).await.unwrap_or_default();
        let elapsed = started.elapsed();
        if workloads.is_empty() {
            return vec![failed_case(
                "workloads",
                &format!("namespace {namespace} has no Deployment, StatefulSet or DaemonSet"),
                String::new(),
            )];
        }
        workloads
            .iter()
            .map(|w| {
                let name = workload_name(w);
                let detail = pod_details(&pods, &w.name);
                match failures.get(&name) {
                    Some(message) => failed_case(&name, message, detail),
                    None => TestCase {
                        name,
                        time: elapsed,
                        failure: None,
                        output: detail,
                    },
                }
            })
            .collect()
    }

    /// `helm test` of each component's release, several at once.
    async fn helm_test(&self, components: &[String], outcome: &mut Outcome) -> Vec<TestCase> {
        let runs = futures::stream::iter(components.iter().map(|component| async move {
            let remaining = self.deadline.saturating_duration_since(Instant::now());
            let started = Instant::now();
            let result = self
                .environment
                .helm
                .test(component, self.environment.namespace, remaining)
                .await;
            (component, started.elapsed(), result)
        }))
        .buffered(self.environment.parallelism)
        .collect::<Vec<_>>()
        .await;
        runs.into_iter()
            .map(|(component, time, result)| {
                let (failure, output) = match result {
                    Ok(output) => (None, format!("{}\n{}", output.stdout, output.stderr)),
                    Err(HelmError::Failed { output, .. }) => (
                        Some(first_error_line(&output.stderr)),
                        format!("{}\n{}", output.stdout, output.stderr),
                    ),
                    Err(error) => (Some(error.to_string()), String::new()),
                };
                outcome.logs.insert(
                    format!("attempt-{}/{component}.log", self.attempt),
                    output.clone(),
                );
                TestCase {
                    name: component.clone(),
                    time,
                    failure: failure.map(|message| Failure {
                        message,
                        details: String::new(),
                    }),
                    output,
                }
            })
            .collect()
    }

    /// For each Deployment of each component: delete one pod, wait for full recovery without
    /// it, then for `settle`.
    async fn pod_restart(&self, components: &[String], settle: Duration) -> Vec<TestCase> {
        let kube = self.environment.kube;
        let namespace = self.environment.namespace;
        let mut cases = Vec::new();
        for component in components {
            let selector = format!("{INSTANCE_LABEL}={component}");
            let deployments: Vec<Workload> = match kube.workloads(namespace, Some(&selector)).await
            {
                Ok(all) => all.into_iter().filter(|w| w.kind == "Deployment").collect(),
                Err(error) => {
                    cases.push(failed_case(component, &error.to_string(), String::new()));
                    continue;
                }
            };
            if deployments.is_empty() {
                cases.push(failed_case(
                    component,
                    &format!("release {component} has no Deployment to restart a pod of"),
                    String::new(),
                ));
            }
            for deployment in deployments {
                let started = Instant::now();
                let name = workload_name(&deployment);
                let result = self.restart_one(&deployment, &selector, settle).await;
                cases.push(match result {
                    Ok(detail) => TestCase {
                        name,
                        time: started.elapsed(),
                        failure: None,
                        output: detail,
                    },
                    Err(message) => failed_case(&name, &message, String::new()),
                });
            }
        }
        cases
    }

    async fn restart_one(
        &self,
        deployment: &Workload,
        selector: &str,
        settle: Duration,
    ) -> Result<String, String> {
        let kube = self.environment.kube;
        let namespace = self.environment.namespace;
        let pods = kube
            .pods(namespace, Some(selector))
            .await
            .map_err(|e| e.to_string())?;
        let prefix = format!("{}-", deployment.name);
        let victim = pods
            .iter()
            .find(|p| {
                p.ready
                    && p.owner.as_ref().is_some_and(|(kind, owner)| {
                        kind == "ReplicaSet" && owner.starts_with(&prefix)
                    })
            })
            .ok_or_else(|| format!("{} has no ready pod to delete", deployment.name))?
            .name
            .clone();
        kube.delete_pod(namespace, &victim)
            .await
            .map_err(|e| e.to_string())?;
        loop {
            if Instant::now() >= self.deadline {
                return Err(format!("did not recover after pod {victim} was deleted"));
            }
            sleep(POLL).await;
            let pods = kube
                .pods(namespace, Some(selector))
                .await
                .map_err(|e| e.to_string())?;
            let workloads = kube
                .workloads(namespace, Some(selector))
                .await
                .map_err(|e| e.to_string())?;
            let recovered = workloads
                .iter()
                .any(|w| w.name == deployment.name && w.kind == deployment.kind && w.is_ready());
            if recovered && pods.iter().all(|p| p.name != victim) {
                break;
            }
        }
        let settle_end = Instant::now() + settle;
        while Instant::now() < settle_end {
            sleep(POLL.min(settle_end.saturating_duration_since(Instant::now()))).await;
            let workloads = kube
                .workloads(namespace, Some(selector))
                .await
                .map_err(|e| e.to_string())?;
            if let Some(w) = workloads
                .iter()
                .find(|w| w.name == deployment.name && !w.is_ready())
            {
                return Err(format!(
                    "stopped being ready after recovering: {}",
                    not_ready(w)
                ));
            }
        }
        Ok(format!("deleted pod {victim}; recovered"))
    }
}

/// Run an in-cluster test: its Job, then the results its collector container printed.
async fn run_job(test: &PlannedTest, environment: &Environment<'_>, deadline: Instant) -> Outcome {
    let mut outcome = Outcome::default();
    let objects = match test.render(environment.context) {
        Ok(objects) => objects,
        Err(error) => {
            outcome.message = Some(format!("the Job does not render: {error}"));
            return outcome;
        }
    };
    let kube = environment.kube;
    let namespace = environment.namespace;
    let started = Instant::now();
    let result = match kube.create(namespace, &objects.job).await {
        Ok(()) => {
            let wait = deadline.saturating_duration_since(Instant::now()) + JOB_GRACE;
            kube.wait_job(namespace, &objects.job_name, wait, super::BLOCKED_AFTER)
                .await
        }
        Err(error) => Err(error),
    };
    let elapsed = started.elapsed();
    let pods = kube
        .job_pods(namespace, &objects.job_name)
        .await
        .unwrap_or_default();
    outcome.attempts = u32::try_from(pods.len()).unwrap_or(u32::MAX).max(1);
    let mut last_log = String::new();
    // The collector's log of each attempt, in order; the last one that parses holds the
    // results.
    let mut collected = Vec::new();
    for pod in &pods {
        let tests: Vec<&String> = pod
            .containers
            .iter()
            .filter(|c| *c != COLLECTOR_CONTAINER)
            .collect();
        for container in &tests {
            let log = kube
                .pod_logs(namespace, &pod.name, Some(container))
                .await
                .unwrap_or_else(|error| format!("(no log: {error})"));
            let file = if tests.len() == 1 {
                format!("{}.log", pod.name)
            } else {
                format!("{}.{container}.log", pod.name)
            };
            outcome.logs.insert(file, log.clone());
            last_log = log;
        }
        if pod.containers.iter().any(|c| c == COLLECTOR_CONTAINER) {
            collected.push((
                pod.name.clone(),
                kube.pod_logs(namespace, &pod.name, Some(COLLECTOR_CONTAINER))
                    .await,
            ));
        }
    }
    let mut failure = match &result {
        Ok(JobResult::Succeeded) => None,
        Ok(JobResult::Failed { reason, message }) => Some(JobFailure {
            reason: reason.clone(),
            message: message.clone(),
        }),
        Ok(JobResult::TimedOut) => Some(JobFailure {
            reason: "TimedOut".to_owned(),
            message: format!(
                "the Job did not finish within {} (its deadline) and {}s",
                humantime(test.timeout),
                JOB_GRACE.as_secs()
            ),
        }),
        Ok(JobResult::Blocked(blocked)) => Some(JobFailure {
            reason: blocked.reason.clone(),
            message: blocked.to_string(),
        }),
        Err(error) => Some(JobFailure {
            reason: "Error".to_owned(),
            message: error.to_string(),
        }),
    };
    // A Job that is still running (blocked, timed out) must not go on in the namespace.
    let _ = kube
        .delete(namespace, "batch/v1", "Job", &objects.job_name)
        .await;
    let files = results_of(&collected).unwrap_or_else(|problem| {
        // A Job that completed but whose results cannot be read is an error, never a pass.
        failure.get_or_insert_with(|| JobFailure {
            reason: "ResultsNotCollected".to_owned(),
            message: format!(
                "the Job's results could not be read (see {}.results.log)",
                objects.job_name
            ),
        });
        outcome
            .logs
            .insert(format!("{}.results.log", objects.job_name), problem);
        Vec::new()
    });
    let status = JobStatus {
        test: test.name.clone(),
        job: objects.job_name.clone(),
        failure: failure.clone(),
        time: elapsed,
        log: last_log,
    };
    let documents = junit_documents(&status, &files);
    let failed_cases = documents
        .iter()
        .filter(|d| {
            chorale_reports::junit::parse(&d.name, &d.xml).map_or(true, |parsed| {
                let counts = parsed.counts();
                counts.failures + counts.errors > 0
            })
        })
        .count();
    outcome.passed = failure.is_none() && failed_cases == 0;
    outcome.message = match (&failure, failed_cases) {
        (Some(failure), _) => Some(format!("{}: {}", failure.reason, failure.message)),
        (None, 0) => None,
        (None, n) => Some(format!(
            "{n} results file(s) report failed test cases or cannot be read"
        )),
    };
    outcome.junit = documents.into_iter().map(|d| (d.name, d.xml)).collect();
    outcome
}

/// The result files of the last attempt whose collector finished printing them; when none
/// did, what each collector's log said (for the build's folder).
fn results_of(
    collected: &[(String, Result<String, KubeError>)],
) -> Result<Vec<ResultFile>, String> {
    let mut problems = Vec::new();
    for (pod, log) in collected.iter().rev() {
        match log.as_ref().map_err(ToString::to_string).and_then(|log| {
            parse_collector_log(log).map_err(|error| format!("{error}\n--- its log ---\n{log}"))
        }) {
            Ok(files) => return Ok(files),
            Err(problem) => problems.push(format!("pod {pod}: {problem}")),
        }
    }
    if problems.is_empty() {
        problems.push("no pod of the Job ran its results collector".to_owned());
    }
    Err(problems.join("\n"))
}

fn workload_name(workload: &Workload) -> String {
    format!("{}/{}", workload.kind, workload.name)
}

fn not_ready(workload: &Workload) -> String {
    format!(
        "{} of {} replicas ready, {} updated, {} available{}",
        workload.ready,
        workload.desired,
        workload.updated,
        workload.available,
        if workload.observed {
            ""
        } else {
            ", latest spec not yet observed"
        }
    )
}

/// Restart counts of every pod.
async fn pod_restarts(kube: &dyn ClusterApi, namespace: &str) -> BTreeMap<String, i32> {
    kube.pods(namespace, None)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.name, p.restarts))
        .collect()
}

/// One line per pod of a workload: phase, readiness, restarts and why a container waits.
fn pod_details(pods: &[PodSummary], workload: &str) -> String {
    let prefix = format!("{workload}-");
    pods.iter()
        .filter(|p| p.name.starts_with(&prefix))
        .map(|p| {
            format!(
                "{} {} ready={} restarts={}{}",
                p.name,
                p.phase,
                p.ready,
                p.restarts,
                if p.waiting.is_empty() {
                    String::new()
                } else {
                    format!(" waiting: {}", p.waiting.join("; "))
                }
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn failed_case(name: &str, message: &str, output: String) -> TestCase {
    TestCase {
        name: name.to_owned(),
        time: Duration::ZERO,
        failure: Some(Failure {
            message: message.to_owned(),
            details: String::new(),
        }),
        output,
    }
}

fn first_error_line(stderr: &str) -> String {
    stderr
        .lines()
        .find(|l| l.starts_with("Error:"))
        .or_else(|| stderr.lines().rfind(|l| !l.trim().is_empty()))
        .unwrap_or("helm test failed")
        .trim()
        .to_owned()
}

fn humantime(duration: Duration) -> String {
    format!("{}s", duration.as_secs())
}

#[cfg(test)]
mod tests {
    //! The test stage's verdicts and messages against a fake cluster: no server.

    use std::collections::HashMap;
    use std::sync::Mutex;

    use chorale_runners::helm::{HelmOutput, Release};
    use chorale_runners::kube::Blocked;
    use chorale_test_jobs::{TestPlanEntry, check_plan};
    use futures::FutureExt as _;
    use futures::future::BoxFuture;
    use serde_json::Value;

    use super::*;

    /// A cluster that answers as it was told.
    #[derive(Default)]
    struct FakeCluster {
        workloads: Vec<Workload>,
        job: Option<JobResult>,
        job_pods: Vec<PodSummary>,
        /// (pod, container) → log.
        logs: HashMap<(String, String), String>,
        created: Mutex<Vec<Value>>,
        deleted: Mutex<Vec<String>>,
    }

    fn ready<T: Send + 'static>(value: T) -> BoxFuture<'static, T> {
        futures::future::ready(value).boxed()
    }

    impl ClusterApi for FakeCluster {
        fn workloads<'a>(
            &'a self,
            _: &'a str,
            _: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Vec<Workload>, KubeError>> {
            ready(Ok(self.workloads.clone()))
        }
        fn pods<'a>(
            &'a self,
            _: &'a str,
            _: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Vec<PodSummary>, KubeError>> {
            ready(Ok(Vec::new()))
        }
        fn pod_logs<'a>(
            &'a self,
            namespace: &'a str,
            pod: &'a str,
            container: Option<&'a str>,
        ) -> BoxFuture<'a, Result<String, KubeError>> {
            let key = (pod.to_owned(), container.unwrap_or_default().to_owned());
            ready(self.logs.get(&key).cloned().ok_or(KubeError::Api {
                action: "read",
                object: format!("the log of pod {namespace}/{pod}"),
                status: Some(400),
                message: "container is waiting to start".to_owned(),
            }))
        }
        fn delete_pod<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<(), KubeError>> {
            ready(Ok(()))
        }
        fn create<'a>(
            &'a self,
            _: &'a str,
            object: &'a Value,
        ) -> BoxFuture<'a, Result<(), KubeError>> {
            self.created.lock().unwrap().push(object.clone());
            ready(Ok(()))
        }
        fn delete<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            kind: &'a str,
            name: &'a str,
        ) -> BoxFuture<'a, Result<(), KubeError>> {
            self.deleted.lock().unwrap().push(format!("{kind}/{name}"));
            ready(Ok(()))
        }
        fn wait_job<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Duration,
            _: Duration,
        ) -> BoxFuture<'a, Result<JobResult, KubeError>> {
            ready(Ok(self
                .job
                .clone()
                .expect("the fake knows how the Job ends")))
        }
        fn job_pods<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<Vec<PodSummary>, KubeError>> {
            ready(Ok(self.job_pods.clone()))
        }
        fn blocked<'a>(&'a self, _: &'a str, _: &'a str, _: Duration) -> BoxFuture<'a, Blocked> {
            std::future::pending().boxed()
        }
    }

    /// helm that is never asked in these tests.
    struct NoHelm;

    impl Releases for NoHelm {
        fn upgrade_install<'a>(
            &'a self,
            _: &'a Release,
        ) -> BoxFuture<'a, Result<HelmOutput, HelmError>> {
            unreachable!("no deploy in the test stage")
        }
        fn test<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Duration,
        ) -> BoxFuture<'a, Result<HelmOutput, HelmError>> {
            unreachable!("no helm test in these plans")
        }
    }

    fn plan(yaml: &str) -> PlannedTest {
        let entries: Vec<TestPlanEntry> = serde_saphyr::from_str(yaml).expect("a plan");
        let sample = BuildContext::sample("demo", Vec::new());
        check_plan(&entries, Path::new("."), &sample)
            .unwrap_or_else(|problems| panic!("{problems:?}"))
            .remove(0)
    }

    async fn run(cluster: &FakeCluster, test: &PlannedTest) -> Outcome {
        let context = BuildContext::sample("demo", Vec::new());
        let environment = Environment {
            kube: cluster,
            helm: &NoHelm,
            namespace: "demo",
            context: &context,
            dir: Path::new("/nonexistent"),
            parallelism: 2,
        };
        run_test(test, &environment).await
    }

    fn workload(name: &str, ready: i32) -> Workload {
        Workload {
            kind: "Deployment".to_owned(),
            name: name.to_owned(),
            desired: 1,
            ready,
            updated: 1,
            available: ready,
            observed: true,
            labels: BTreeMap::new(),
        }
    }

    fn pod(name: &str) -> PodSummary {
        PodSummary {
            name: name.to_owned(),
            phase: "Failed".to_owned(),
            ready: false,
            restarts: 0,
            containers: vec!["http-probe".to_owned(), COLLECTOR_CONTAINER.to_owned()],
            waiting: Vec::new(),
            labels: BTreeMap::new(),
            owner: Some(("Job".to_owned(), "test-reachable".to_owned())),
        }
    }

    fn collected(name: &str, xml: &str) -> String {
        format!(
            "=== chorale-results begin {} {name} ===\n{xml}\n=== chorale-results end {name} ===\n=== chorale-results done files=1 unreadable=0 ===\n",
            xml.len()
        )
    }

    const PROBE_PLAN: &str = "- name: reachable\n  uses: http-probe\n  retries: 1\n  with: { checks: [ { url: 'http://web:8080/' } ] }\n";

    #[tokio::test]
    async fn workloads_that_are_not_ready_fail_one_case_each() {
        let cluster = FakeCluster {
            workloads: vec![workload("api", 1), workload("web", 0)],
            ..FakeCluster::default()
        };
        let test =
            plan("- name: ready\n  uses: workloads-ready\n  timeout: 1s\n  with: { settle: 0s }\n");
        let outcome = run(&cluster, &test).await;
        assert!(!outcome.passed);
        assert_eq!(outcome.attempts, 1);
        assert_eq!(
            outcome.message.as_deref(),
            Some("Deployment/web: 0 of 1 replicas ready, 1 updated, 0 available")
        );
        let xml = &outcome.junit["ready.xml"];
        assert_eq!(xml.matches("<testcase").count(), 2, "{xml}");
        assert_eq!(xml.matches("<failure").count(), 1, "{xml}");
    }

    #[tokio::test]
    async fn a_job_gives_the_files_of_its_last_attempt_and_its_failure() {
        let failing = "<testsuite name=\"reachable\" tests=\"1\" failures=\"1\"><testcase name=\"GET /\"><failure message=\"got 503\"/></testcase></testsuite>";
        let cluster = FakeCluster {
            job: Some(JobResult::Failed {
                reason: "BackoffLimitExceeded".to_owned(),
                message: "Job has reached the specified backoff limit".to_owned(),
            }),
            job_pods: vec![pod("test-reachable-a"), pod("test-reachable-b")],
            logs: HashMap::from([
                (
                    ("test-reachable-a".into(), "http-probe".into()),
                    "FAIL GET /: got 502\n".into(),
                ),
                (
                    ("test-reachable-a".into(), COLLECTOR_CONTAINER.into()),
                    collected("old.xml", "<testsuite/>"),
                ),
                (
                    ("test-reachable-b".into(), "http-probe".into()),
                    "FAIL GET /: got 503\n".into(),
                ),
                (
                    ("test-reachable-b".into(), COLLECTOR_CONTAINER.into()),
                    collected("reachable.xml", failing),
                ),
            ]),
            ..FakeCluster::default()
        };
        let outcome = run(&cluster, &plan(PROBE_PLAN)).await;
        assert!(!outcome.passed);
        assert_eq!(outcome.attempts, 2, "one per pod");
        assert_eq!(
            outcome.message.as_deref(),
            Some("BackoffLimitExceeded: Job has reached the specified backoff limit")
        );
        // The last attempt's file, and the Job's failure as a case of its own.
        let names: Vec<&str> = outcome.junit.keys().map(String::as_str).collect();
        assert_eq!(names, ["exit-status.xml", "reachable.xml"]);
        assert_eq!(outcome.junit["reachable.xml"], failing);
        // Each attempt's test container log is kept (not the collector's).
        let logs: Vec<&str> = outcome.logs.keys().map(String::as_str).collect();
        assert_eq!(logs, ["test-reachable-a.log", "test-reachable-b.log"]);
        let created = cluster.created.lock().unwrap();
        assert_eq!(created.len(), 1, "only the Job: no claim, no collector pod");
        assert_eq!(created[0]["kind"], "Job");
        assert_eq!(*cluster.deleted.lock().unwrap(), ["Job/test-reachable"]);
    }

    #[tokio::test]
    async fn a_blocked_job_fails_naming_what_blocks_it() {
        let cluster = FakeCluster {
            job: Some(JobResult::Blocked(Blocked {
                object: "PersistentVolumeClaim demo/data".to_owned(),
                reason: "Pending".to_owned(),
                message: "no volume is bound to it".to_owned(),
            })),
            ..FakeCluster::default()
        };
        let outcome = run(&cluster, &plan(PROBE_PLAN)).await;
        assert!(!outcome.passed);
        assert_eq!(
            outcome.message.as_deref(),
            Some("Pending: PersistentVolumeClaim demo/data is Pending: no volume is bound to it")
        );
        let xml = &outcome.junit["exit-status.xml"];
        assert!(xml.contains("the Job failed: Pending"), "{xml}");
        // No pod ran the collector: why is kept with the test.
        assert_eq!(
            outcome.logs["test-reachable.results.log"],
            "no pod of the Job ran its results collector"
        );
    }

    #[tokio::test]
    async fn a_truncated_collector_log_is_an_error_not_a_pass() {
        let cluster = FakeCluster {
            job: Some(JobResult::Succeeded),
            job_pods: vec![pod("test-reachable-a")],
            logs: HashMap::from([(
                ("test-reachable-a".into(), COLLECTOR_CONTAINER.into()),
                "=== chorale-results begin 500 reachable.xml ===\n<testsuite".into(),
            )]),
            ..FakeCluster::default()
        };
        let outcome = run(&cluster, &plan(PROBE_PLAN)).await;
        // The Job completed, but its results cannot be trusted: the test fails, and why is
        // kept; never a silent pass on missing files.
        assert!(!outcome.passed);
        assert_eq!(
            outcome.message.as_deref(),
            Some(
                "ResultsNotCollected: the Job's results could not be read (see test-reachable.results.log)"
            )
        );
        let problem = &outcome.logs["test-reachable.results.log"];
        assert!(problem.starts_with("pod test-reachable-a: "), "{problem}");
        assert!(problem.contains("--- its log ---"), "{problem}");
        assert_eq!(
            outcome.junit.keys().collect::<Vec<_>>(),
            ["exit-status.xml"]
        );
    }
}

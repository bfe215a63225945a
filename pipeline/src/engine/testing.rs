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
use chorale_runners::helm::Helm;
use chorale_runners::kube::{JobResult, Kube, PodSummary, Workload};
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

/// How often Chorale's own checks look at the cluster.
const POLL: Duration = Duration::from_secs(1);

/// Extra time a Job gets beyond its own deadline before Chorale stops waiting.
const JOB_GRACE: Duration = Duration::from_secs(30);

/// The label helm puts on every object of a release.
pub(super) const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";

/// What the tests run against.
pub(super) struct Environment<'a> {
    /// The cluster's API.
    pub kube: &'a Kube,
    /// helm, on the cluster.
    pub helm: &'a Helm,
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
    let failure = match &result {
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
    let files = results_of(&collected).unwrap_or_else(|message| {
        outcome
            .logs
            .insert(format!("{}.results.log", objects.job_name), message);
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
async fn pod_restarts(kube: &Kube, namespace: &str) -> BTreeMap<String, i32> {
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

//! The results protocol: how an in-cluster test's JUnit files get from its containers to the
//! pipeline, on any cluster (no storage, no `exec`, no API access from pods) and on the
//! stand-in alike.
//!
//! 1. Every test Job's pod has an `emptyDir` volume ([`RESULTS_VOLUME`]) mounted at
//!    [`RESULTS_PATH`] in all its containers; a container that writes JUnit XML files there
//!    (any `*.xml`, in any subfolder) contributes their test cases.
//! 2. The pod also runs the collector ([`collector_container`], last in the list): the probe
//!    image running `chorale-probe collect /chorale/results --after-others`. The pod shares
//!    one process namespace (`shareProcessNamespace: true`), so the collector sees when every
//!    other container's processes have ended; then it prints every file between marker lines
//!    and exits 0 (it never decides the pod's outcome). The kubelet starts a pod's containers
//!    in order, so the test containers run before the collector looks.
//! 3. The pipeline reads the collector container's log of each of the Job's pods (its
//!    attempts) and calls [`parse_collector_log`] on the last one that finished collecting.
//! 4. [`junit_documents`] turns the Job's status and those files into the test's JUnit
//!    documents: every file it could read; a failed case for every file it could not; and the
//!    Job's exit status as one more case ([`exit_status_junit`]) when the Job failed or left no
//!    file. So a Job without JUnit is one test case from its exit status, and a Job that failed
//!    always has a failing case, even when its container crashed after writing passing cases.

use std::time::Duration;

pub use chorale_probe::junit::{Failure, TestCase, TestSuite};
use serde_json::{Value, json};

pub use chorale_probe::results::ResultFile;

use crate::check::PlannedTest;
use crate::context::BuildContext;
use crate::errors::Error;

/// Where the results volume is mounted in every container of a test Job.
pub const RESULTS_PATH: &str = "/chorale/results";
/// The name of the results volume in a test Job's pod.
pub const RESULTS_VOLUME: &str = "chorale-results";
/// The name of the collector container in a test Job's pod.
pub const COLLECTOR_CONTAINER: &str = "chorale-results";
/// The label carrying the build id, on every test object and the Job's pods.
pub const BUILD_LABEL: &str = "dev.chorale/build";
/// The label carrying the test's name, on every test object and the Job's pods.
pub const TEST_JOB_LABEL: &str = "dev.chorale/test-job";
/// The user and group the probe image runs as (`nobody`), also the pods' `fsGroup`.
pub const PROBE_USER: u32 = 65534;
/// How much the results volume may hold (an `emptyDir` size limit).
pub const RESULTS_SIZE_LIMIT: &str = "64Mi";
/// How long before the test's deadline the collector stops waiting for the other containers
/// and prints what is there, so a test that runs out of time keeps its partial results.
pub const COLLECTOR_MARGIN: Duration = Duration::from_secs(5);

/// The results volume: an `emptyDir` of the pod, gone with it.
pub(crate) fn results_volume() -> Value {
    json!({
        "name": RESULTS_VOLUME,
        "emptyDir": { "sizeLimit": RESULTS_SIZE_LIMIT },
    })
}

/// The collector container: the probe waits until the pod's other containers have ended,
/// then prints the results volume's JUnit files into its log.
pub(crate) fn collector_container(test: &PlannedTest, context: &BuildContext) -> Value {
    // Stop waiting a little before the Job's deadline kills the pod (at least a second in).
    let wait = test
        .timeout
        .saturating_sub(COLLECTOR_MARGIN)
        .max(Duration::from_secs(1));
    json!({
        "name": COLLECTOR_CONTAINER,
        "image": context.probe.reference(),
        "args": [
            "collect",
            RESULTS_PATH,
            "--after-others",
            format!("--at-most={}ms", wait.as_millis()),
        ],
        "volumeMounts": [{
            "name": RESULTS_VOLUME,
            "mountPath": RESULTS_PATH,
            "readOnly": true,
        }],
        "securityContext": {
            "runAsNonRoot": true,
            "runAsUser": PROBE_USER,
            "runAsGroup": PROBE_USER,
            "allowPrivilegeEscalation": false,
            "readOnlyRootFilesystem": true,
            "capabilities": { "drop": ["ALL"] },
        },
        "resources": {
            "requests": { "cpu": "10m", "memory": "16Mi" },
            "limits": { "cpu": "100m", "memory": "64Mi" },
        },
    })
}

/// Reads the JUnit files out of a collector container's log, in path order. A file the collector
/// could not read comes back with `content: Err(reason)`. Fails when the log is truncated or
/// damaged.
pub fn parse_collector_log(log: &str) -> Result<Vec<ResultFile>, Error> {
    chorale_probe::results::parse_log(log).map_err(|error| Error::CollectorLog(error.to_string()))
}

/// How a test Job ended, as its `Complete` or `Failed` condition says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobStatus {
    /// The test's name (the suite's name).
    pub test: String,
    /// The Job's name (the case's name).
    pub job: String,
    /// `None` when the Job completed; else its `Failed` condition's reason and message,
    /// e.g. `BackoffLimitExceeded`, `DeadlineExceeded`.
    pub failure: Option<JobFailure>,
    /// From the Job's start to its end.
    pub time: Duration,
    /// The last pod's log (or an excerpt), kept as the case's `system-out`.
    pub log: String,
}

/// Why a Job failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobFailure {
    /// The condition's reason, e.g. `BackoffLimitExceeded`.
    pub reason: String,
    /// The condition's message, e.g. `Job has reached the specified backoff limit`.
    pub message: String,
}

/// A JUnit document a test contributes: the file name it came from (or `exit-status.xml`) and
/// its XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JunitDocument {
    /// The results file's name relative to the results volume, or `exit-status.xml`.
    pub name: String,
    /// The JUnit XML.
    pub xml: String,
}

/// The name of the document [`junit_documents`] adds for the Job's exit status.
pub const EXIT_STATUS_DOCUMENT: &str = "exit-status.xml";

/// The JUnit documents of a finished in-cluster test, from the Job's status and the files the
/// collector found (see the module documentation for the rules).
pub fn junit_documents(status: &JobStatus, files: &[ResultFile]) -> Vec<JunitDocument> {
    let mut documents: Vec<JunitDocument> = files
        .iter()
        .map(|file| JunitDocument {
            name: file.name.clone(),
            xml: match &file.content {
                Ok(xml) => xml.clone(),
                Err(reason) => TestSuite {
                    name: status.test.clone(),
                    cases: vec![TestCase {
                        name: format!("results file {}", file.name),
                        time: Duration::ZERO,
                        failure: Some(Failure {
                            message: format!(
                                "the results file {} could not be collected",
                                file.name
                            ),
                            details: reason.clone(),
                        }),
                        output: String::new(),
                    }],
                }
                .to_xml(),
            },
        })
        .collect();
    if status.failure.is_some() || files.iter().all(|file| file.content.is_err()) {
        documents.push(JunitDocument {
            name: EXIT_STATUS_DOCUMENT.to_owned(),
            xml: exit_status_junit(status),
        });
    }
    documents
}

/// The JUnit document of a Job judged by its exit status: one suite named after the test with
/// one case named after the Job, failed when the Job failed.
pub fn exit_status_junit(status: &JobStatus) -> String {
    let failure = status.failure.as_ref().map(|failure| Failure {
        message: format!("the Job failed: {}", failure.reason),
        details: failure.message.clone(),
    });
    TestSuite {
        name: status.test.clone(),
        cases: vec![TestCase {
            name: format!("Job {}", status.job),
            time: status.time,
            failure,
            output: status.log.clone(),
        }],
    }
    .to_xml()
}

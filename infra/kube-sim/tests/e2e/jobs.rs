//! Jobs: completions and parallelism, backoffLimit, activeDeadlineSeconds.

use std::time::Duration;

use serde_json::Value;

use crate::support::Fixture;

fn job(name: &str, image: &str, command: &str, spec: &str) -> String {
    format!(
        r"
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    spec:
      restartPolicy: Never
      terminationGracePeriodSeconds: 1
      containers:
        - name: work
          image: {image}
          command: [/bin/sh, -c, '{command}']
"
    )
}

fn condition<'a>(job: &'a Value, kind: &str) -> Option<&'a Value> {
    job["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind && c["status"] == "True")
}

#[test]
fn jobs_complete_fail_after_their_backoff_limit_and_stop_at_their_deadline() {
    let fixture = Fixture::start("jobs");
    let (sim, image) = (&fixture.sim, &fixture.image);
    let manifests = [
        job(
            "counted",
            image,
            "echo working on $(hostname); sleep 1",
            "  completions: 3\n  parallelism: 2",
        ),
        job(
            "flaky",
            image,
            "echo failing; echo flaky-result > /dev/termination-log; exit 3",
            "  backoffLimit: 1",
        ),
        job(
            "slow",
            image,
            "sleep 600",
            "  activeDeadlineSeconds: 3\n  backoffLimit: 0",
        ),
    ]
    .join("---");
    sim.apply(&manifests);

    let counted = sim.wait("job", "counted", "default", Duration::from_secs(90), |j| {
        condition(j, "Complete").is_some()
    });
    assert_eq!(counted["status"]["succeeded"], 3, "{}", counted["status"]);
    assert!(counted["status"]["completionTime"].is_string());
    let pods: Value = serde_json::from_str(&sim.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "job-name=counted",
        "-o",
        "json",
    ]))
    .expect("JSON");
    assert_eq!(pods["items"].as_array().map(Vec::len), Some(3));
    let logs = sim.kubectl_ok(&["logs", "job/counted"]);
    assert!(logs.contains("working on counted-"), "{logs}");

    let slow = sim.wait("job", "slow", "default", Duration::from_mins(1), |j| {
        condition(j, "Failed").is_some()
    });
    assert_eq!(
        condition(&slow, "Failed").expect("failed")["reason"],
        "DeadlineExceeded"
    );

    // Two failures (the first pod and one retry after a 10 s back-off) exceed backoffLimit 1.
    let flaky = sim.wait("job", "flaky", "default", Duration::from_secs(90), |j| {
        condition(j, "Failed").is_some()
    });
    assert_eq!(
        condition(&flaky, "Failed").expect("failed")["reason"],
        "BackoffLimitExceeded"
    );
    assert_eq!(flaky["status"]["failed"], 2, "{}", flaky["status"]);
    let pods: Value = serde_json::from_str(&sim.kubectl_ok(&[
        "get",
        "pods",
        "-l",
        "job-name=flaky",
        "-o",
        "json",
    ]))
    .expect("JSON");
    for pod in pods["items"].as_array().expect("items") {
        assert_eq!(pod["status"]["phase"], "Failed");
        let terminated = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
        assert_eq!(terminated["exitCode"], 3);
        assert_eq!(
            terminated["message"], "flaky-result\n",
            "the termination message"
        );
    }
}

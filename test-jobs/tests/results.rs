//! The results protocol end to end on real files: what a Job's containers write, what the
//! collector prints, what the pipeline reads back, and the Job's exit status.

use std::time::Duration;

use chorale_test_jobs::results::{
    EXIT_STATUS_DOCUMENT, JobFailure, JobStatus, JunitDocument, ResultFile, exit_status_junit,
    junit_documents, parse_collector_log,
};

fn status(failure: Option<(&str, &str)>) -> JobStatus {
    JobStatus {
        test: "smoke".to_owned(),
        job: "test-smoke".to_owned(),
        failure: failure.map(|(reason, message)| JobFailure {
            reason: reason.to_owned(),
            message: message.to_owned(),
        }),
        time: Duration::from_millis(4_250),
        log: "starting\nsmoke <ok> & done\n".to_owned(),
    }
}

/// Runs the collector's code on `dir` and returns its log.
fn collector_log(dir: &std::path::Path) -> String {
    let mut log = Vec::new();
    chorale_probe::results::collect(dir, &mut log, None).unwrap();
    String::from_utf8(log).unwrap()
}

#[test]
fn files_written_to_the_results_volume_come_back_from_the_collectors_log() {
    let dir = tempfile::tempdir().unwrap();
    let suite = "<?xml version=\"1.0\"?>\n<testsuite name=\"s\" tests=\"1\"><testcase name=\"c\"/></testsuite>\n";
    std::fs::create_dir(dir.path().join("api")).unwrap();
    std::fs::write(dir.path().join("api/junit.xml"), suite).unwrap();
    std::fs::write(dir.path().join("smoke.xml"), suite.replace('s', "t")).unwrap();
    std::fs::write(dir.path().join("smoke.log"), "not JUnit").unwrap();
    // Kubernetes interleaves other output of the container with the collector's.
    let log = format!("warming up\n{}", collector_log(dir.path()));
    let files = parse_collector_log(&log).unwrap();
    assert_eq!(
        files,
        [
            ResultFile {
                name: "api/junit.xml".to_owned(),
                content: Ok(suite.to_owned())
            },
            ResultFile {
                name: "smoke.xml".to_owned(),
                content: Ok(suite.replace('s', "t"))
            },
        ]
    );
    // A completed Job with files contributes exactly its files.
    let documents = junit_documents(&status(None), &files);
    assert_eq!(
        documents
            .iter()
            .map(|d| d.name.as_str())
            .collect::<Vec<_>>(),
        ["api/junit.xml", "smoke.xml"]
    );
    assert_eq!(documents[0].xml, suite);

    // A failed Job also gets its exit status, however its files look.
    let failed = junit_documents(
        &status(Some((
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit",
        ))),
        &files,
    );
    assert_eq!(failed.len(), 3);
    assert_eq!(failed[2].name, EXIT_STATUS_DOCUMENT);
    assert!(
        failed[2].xml.contains("failures=\"1\""),
        "{}",
        failed[2].xml
    );
}

#[test]
fn a_job_without_junit_is_one_case_from_its_exit_status() {
    let dir = tempfile::tempdir().unwrap();
    let files = parse_collector_log(&collector_log(dir.path())).unwrap();
    assert!(files.is_empty());
    let passed = junit_documents(&status(None), &files);
    assert_eq!(
        passed,
        [JunitDocument {
            name: EXIT_STATUS_DOCUMENT.to_owned(),
            xml: exit_status_junit(&status(None)),
        }]
    );
    insta::assert_snapshot!("exit_status_passed", passed[0].xml);
    let deadline = status(Some((
        "DeadlineExceeded",
        "Job was active longer than specified deadline",
    )));
    insta::assert_snapshot!("exit_status_failed", exit_status_junit(&deadline));
}

#[test]
fn unreadable_files_are_failed_cases_and_damaged_logs_are_errors() {
    let files = vec![ResultFile {
        name: "private/junit.xml".to_owned(),
        content: Err("Permission denied (os error 13)".to_owned()),
    }];
    let documents = junit_documents(&status(None), &files);
    assert_eq!(documents.len(), 2, "the file's case and the exit status");
    assert!(
        documents[0]
            .xml
            .contains("the results file private/junit.xml could not be collected")
    );
    assert!(documents[0].xml.contains("Permission denied"));
    assert_eq!(documents[1].name, EXIT_STATUS_DOCUMENT);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.xml"), "x".repeat(100_000)).unwrap();
    let log = collector_log(dir.path());
    let message = parse_collector_log(&log[..50_000]).unwrap_err().to_string();
    assert!(
        message.contains("the log ends inside the 100000 bytes of big.xml"),
        "{message}"
    );
}

//! Loading and checking product manifests: the user-facing contract and its error messages.

use std::path::Path;

use chorale::manifest::{ChartSource, VersionLine, load_product};

const FIXTURES: &str = "tests/fixtures/manifests";

/// Every error of a manifest, one per line, as `chorale validate` prints them.
fn errors_of(name: &str) -> String {
    let path = Path::new(FIXTURES).join("invalid").join(name);
    load_product(&path)
        .expect_err("the fixture is invalid")
        .to_string()
}

#[test]
fn the_issue_example_loads_with_its_component_file() {
    let product = load_product(&Path::new(FIXTURES).join("valid/product.yaml")).unwrap();
    assert_eq!(product.name, "demo");
    assert_eq!(product.version_line, VersionLine { major: 1, minor: 0 });
    let names: Vec<&str> = product.components.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["db", "api", "ext", "web"]);

    let db = &product.components[0];
    assert_eq!(
        db.chart,
        ChartSource::Git {
            repository: "git://127.0.0.1:9418/db.git".to_owned(),
            reference: "main".to_owned(),
            chart_path: "chart".to_owned(),
        }
    );
    assert_eq!(db.images[0].values, "image");

    let ext = &product.components[2];
    let ChartSource::Oci { repository, range } = &ext.chart else {
        panic!("ext comes from OCI: {:?}", ext.chart)
    };
    assert_eq!(repository, "127.0.0.1:5000/charts/ext");
    assert!(range.matches(&semver::Version::new(1, 9, 0)));
    assert!(!range.matches(&semver::Version::new(2, 0, 0)));

    let web = &product.components[3];
    assert_eq!(web.depends_on, ["api", "db"]);
    assert_eq!(web.images[0].values, "frontend.image");
    assert_eq!(web.values["replicas"], 2);
    assert!(web.origin.file.ends_with("components/web.yaml"));
    // A path remote is relative to the file that names it, made absolute.
    let ChartSource::Git { repository, .. } = &web.chart else {
        panic!("web comes from git")
    };
    assert!(Path::new(repository).is_absolute(), "{repository}");
    assert!(repository.ends_with("repos/web.git"), "{repository}");
}

#[test]
fn an_unknown_cluster_provider_is_named_with_the_known_ones() {
    let errors = errors_of("cluster-provider.yaml");
    assert_eq!(
        errors,
        "tests/fixtures/manifests/invalid/cluster-provider.yaml:6:24: spec.cluster.provider: unknown cluster provider `minikube`; expected one of sim, kind, k3d, existing, vcluster, command"
    );
}

#[test]
fn malformed_yaml_names_the_place() {
    insta::assert_snapshot!(errors_of("malformed.yaml"));
}

#[test]
fn an_unknown_field_is_rejected_with_what_is_allowed() {
    insta::assert_snapshot!(errors_of("unknown-field.yaml"));
}

#[test]
fn a_missing_component_file_is_named() {
    insta::assert_snapshot!(errors_of("missing-file.yaml"));
}

#[test]
fn a_dependency_cycle_is_printed_as_a_path() {
    let errors = errors_of("cycle.yaml");
    assert!(errors.contains("api -> web -> api"), "{errors}");
    insta::assert_snapshot!(errors);
}

#[test]
fn invalid_image_references_are_rejected() {
    insta::assert_snapshot!(errors_of("bad-image.yaml"));
}

#[test]
fn every_problem_is_reported_at_once() {
    let errors = errors_of("everything.yaml");
    // One line per problem, each starting with file:line:col.
    for line in errors.lines() {
        let mut parts = line.splitn(4, ':');
        let (file, row, col) = (parts.next(), parts.next(), parts.next());
        assert!(
            file.is_some_and(|f| f.ends_with("everything.yaml")),
            "{line}"
        );
        assert!(row.is_some_and(|r| r.parse::<u32>().is_ok()), "{line}");
        assert!(col.is_some_and(|c| c.parse::<u32>().is_ok()), "{line}");
    }
    insta::assert_snapshot!(errors);
}

#[test]
fn the_committed_schema_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../product-manifests/schema");
    for (name, text) in chorale::manifest::schema::schema_files() {
        let committed = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        assert!(
            committed == text,
            "product-manifests/schema/{name} is stale; run `cargo run -p chorale -- schema --out product-manifests/schema`"
        );
    }
}

#[test]
fn a_test_plan_naming_an_unknown_test_job_is_rejected() {
    let errors = errors_of("unknown-test-job.yaml");
    assert!(errors.contains("smoke-tests"), "{errors}");
    insta::assert_snapshot!(errors);
}

#[test]
fn report_templates_and_notifiers_load_relative_to_the_product_file() {
    let path = Path::new(FIXTURES).join("valid/reporting.yaml");
    let product = load_product(&path).unwrap_or_else(|errors| panic!("{errors}"));
    let reporting = &product.reporting;
    let templates = reporting.templates.as_deref().unwrap();
    assert!(templates.is_absolute(), "{}", templates.display());
    assert!(templates.ends_with("valid/report-templates"));
    assert_eq!(
        reporting.templates().unwrap().overridden()[0].0,
        "email.txt.j2"
    );
    let names: Vec<&str> = reporting
        .notifications
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    assert_eq!(names, ["team-chat", "cn-team", "release-managers"]);
    assert_eq!(
        reporting.notifications[0].events,
        [chorale_reports::Event::Failure]
    );
    assert_eq!(reporting.notifications[1].events.len(), 4, "all by default");
    let dingtalk = reporting.notifications[1].dingtalk.as_ref().unwrap();
    assert_eq!(
        dingtalk.url,
        chorale_reports::notify::SecretRef::File(
            Path::new(FIXTURES).join("valid/secrets/dingtalk-url")
        )
    );
    assert_eq!(
        dingtalk.secret,
        Some(chorale_reports::notify::SecretRef::File(
            "/run/secrets/dingtalk-secret".into()
        ))
    );
    assert_eq!(reporting.retry.max_attempts, 3);
    assert_eq!(reporting.retry.initial_delay_ms, 500);
    assert_eq!(
        reporting.retry.max_delay_ms,
        chorale_reports::RetryPolicy::default().max_delay_ms
    );

    // Without them: built-in templates, nobody to tell, the default retries.
    let plain = load_product(&Path::new(FIXTURES).join("valid/product.yaml")).unwrap();
    assert_eq!(plain.reporting, chorale::manifest::Reporting::default());
}

#[test]
fn notifiers_and_report_templates_are_checked_where_they_are_written() {
    insta::assert_snapshot!(errors_of("notifications.yaml"));
}

#[test]
fn an_unknown_notifier_field_is_rejected_with_what_is_allowed() {
    insta::assert_snapshot!(errors_of("notifier-field.yaml"));
}

#[test]
fn a_report_template_that_does_not_compile_is_named_with_its_line() {
    let errors = errors_of("bad-template.yaml");
    assert!(
        errors.starts_with(
            "tests/fixtures/manifests/invalid/bad-template.yaml:9:20: reportTemplates: template report.md.j2 (tests/fixtures/manifests/invalid/bad-templates/report.md.j2) failed: "
        ),
        "{errors}"
    );
    assert!(errors.ends_with("(in report.md.j2:1)"), "{errors}");
}

#[test]
fn a_release_policy_loads_with_its_defaults_filled_in() {
    use chorale::resources::release::{ApprovalPolicy, ReleaseChannel};
    let path = Path::new(FIXTURES).join("valid/release.yaml");
    let release = load_product(&path).unwrap().release.unwrap();
    assert_eq!(release.policy, ApprovalPolicy::Auto);
    assert_eq!(release.channel, ReleaseChannel::Prerelease);
    assert_eq!(release.patch, 3);
    assert_eq!(release.approvals, 2);
    assert_eq!(
        release.approval_expires,
        std::time::Duration::from_hours(24)
    );
    // No zone of its own: the schedule's.
    assert_eq!(release.time_zone.iana_name(), Some("Asia/Shanghai"));
    let publish = &release.publish;
    assert_eq!(publish.registry.as_deref(), Some("127.0.0.1:5000/releases"));
    let git = publish.git.as_ref().unwrap();
    assert_eq!(git.tag_prefix, "v");
    let github = publish.github.as_ref().unwrap();
    assert_eq!(github.api_url.as_str(), "https://api.github.com/");
    let chorale_reports::notify::SecretRef::File(token) = &github.token else {
        panic!("{:?}", github.token)
    };
    assert!(
        token.ends_with("valid/secrets/github-token"),
        "{}",
        token.display()
    );

    // Without `spec.release` nothing is released; with an empty one, every default holds.
    let plain = load_product(&Path::new(FIXTURES).join("valid/product.yaml")).unwrap();
    assert_eq!(plain.release, None);
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(Path::new(FIXTURES).join("invalid/release-policy.yaml"))
        .unwrap()
        .replace("{ policy: sometimes }", "{}");
    std::fs::write(dir.path().join("product.yaml"), text).unwrap();
    let release = load_product(&dir.path().join("product.yaml"))
        .unwrap()
        .release
        .unwrap();
    assert_eq!(release.policy, ApprovalPolicy::Manual);
    assert_eq!(release.channel, ReleaseChannel::Daily);
    assert_eq!(release.approvals, 1);
    assert_eq!(
        release.approval_expires,
        std::time::Duration::from_hours(72)
    );
    assert_eq!(release.time_zone, jiff::tz::TimeZone::UTC);
}

#[test]
fn every_problem_of_a_release_policy_is_named_where_it_is_written() {
    insta::assert_snapshot!(errors_of("release.yaml"));
    insta::assert_snapshot!(errors_of("release-policy.yaml"));
    let credentials = errors_of("release-credentials.yaml");
    assert!(!credentials.contains("s3cret"), "{credentials}");
    insta::assert_snapshot!(credentials);
}

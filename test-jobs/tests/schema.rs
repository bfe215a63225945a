//! The JSON schema of a test plan entry, completed from the catalogue.

use chorale_test_jobs::TestPlanEntry;

#[test]
fn the_schema_lists_the_entries_and_their_parameters() {
    let schema = serde_json::to_value(schemars::schema_for!(TestPlanEntry)).unwrap();
    assert_eq!(
        schema["properties"]["uses"]["enum"],
        serde_json::json!([
            "workloads-ready",
            "helm-test",
            "http-probe",
            "pod-restart",
            "job"
        ])
    );
    insta::assert_json_snapshot!(schema);
}

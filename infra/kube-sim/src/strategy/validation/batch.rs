//! Jobs and CronJobs: the generated selector and labels of a Job, its pod template and restart
//! policy, and a CronJob's name and job template.

use serde_json::{Map, Value};

use super::field::FieldError;
use super::selector;
use super::{go, pods};
use crate::object::ObjectExt;
use crate::version::KubernetesVersion;

/// The longest CronJob name: its Jobs get an 11-character suffix and must fit in 63.
const CRON_JOB_NAME_MAX: usize = 52;

/// The labels the API server puts on a Job's pod template when it generates the selector, with
/// their values (the Job's uid or name), in the order it checks them.
pub fn generated_labels(version: KubernetesVersion, job: &Value) -> Vec<(&'static str, String)> {
    let (uid, name) = (job.uid().to_owned(), job.name().to_owned());
    let mut labels = vec![("controller-uid", uid.clone()), ("job-name", name.clone())];
    if version.has_batch_job_labels() {
        labels.push(("batch.kubernetes.io/controller-uid", uid));
        labels.push(("batch.kubernetes.io/job-name", name));
    }
    labels
}

/// The label the generated selector selects on.
pub fn selector_label(version: KubernetesVersion) -> &'static str {
    if version.has_batch_job_labels() {
        "batch.kubernetes.io/controller-uid"
    } else {
        "controller-uid"
    }
}

fn manual_selector(job: &Value) -> bool {
    job.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true)
}

fn selector_of(job: &Value) -> Option<&Value> {
    job.pointer("/spec/selector").filter(|s| !s.is_null())
}

/// `ValidateGeneratedSelector`: unless the selector is manual, the template carries the
/// generated labels and the selector selects them.
pub fn generated_selector(version: KubernetesVersion, job: &Value) -> Vec<FieldError> {
    let Some(selector) = selector_of(job).filter(|_| !manual_selector(job)) else {
        return Vec::new();
    };
    let mut errors = Vec::new();
    let labels_value = job.pointer("/spec/template/metadata/labels");
    let labels = labels_value.and_then(Value::as_object);
    let expected = generated_labels(version, job);
    for (key, value) in &expected {
        let field = format!("spec.template.metadata.labels[{key}]");
        match labels.and_then(|l| l.get(*key)).and_then(Value::as_str) {
            None => errors.push(FieldError::required(field, value)),
            Some(actual) if actual != value => errors.push(FieldError::invalid(
                field,
                &go::string_map(labels_value),
                &format!("must be '{value}'"),
            )),
            Some(_) => {}
        }
    }
    let expected: Map<String, Value> = expected
        .into_iter()
        .map(|(k, v)| (k.to_owned(), Value::String(v)))
        .collect();
    if let Some(selection) = selector::convert(Some(selector))
        && !selection.matches(Some(&expected))
    {
        errors.push(selector::invalid(
            "spec.selector",
            selector,
            "`selector` not auto-generated",
        ));
    }
    errors
}

/// A Job's pods restart `OnFailure` or `Never`.
fn restart_for_jobs(job: &Value, pointer: &str, path: &str) -> Option<FieldError> {
    let field = format!("{path}.spec.restartPolicy");
    match pods::restart_policy(job, pointer) {
        None | Some("Always") => Some(FieldError::required(
            field,
            r#"valid values: "OnFailure", "Never""#,
        )),
        Some("OnFailure" | "Never") => None,
        Some(other) => Some(FieldError::not_supported(
            field,
            other,
            &["OnFailure", "Never"],
        )),
    }
}

/// `validateJobSpec` of the job spec at `pointer`: its pod template and restart policy.
fn job_spec_template(job: &Value, pointer: &str, path: &str) -> Vec<FieldError> {
    let template = format!("{pointer}/template");
    let template_path = format!("{path}.template");
    let mut errors = pods::template(job, &template, &template_path);
    errors.extend(restart_for_jobs(job, &template, &template_path));
    errors
}

/// `ValidateJobSpec`: the template, then the selector (required, valid, and selecting the
/// template's labels).
pub fn job_spec(job: &Value) -> Vec<FieldError> {
    let mut errors = job_spec_template(job, "/spec", "spec");
    let selector = selector_of(job);
    match selector {
        None => errors.push(FieldError::required("spec.selector", "")),
        Some(selector) => errors.extend(selector::validate(Some(selector), "spec.selector")),
    }
    let labels = job.pointer("/spec/template/metadata/labels");
    if let Some(selection) = selector::convert(selector)
        && !selection.matches(labels.and_then(Value::as_object))
    {
        errors.push(selector::mismatch("spec.template.metadata.labels", labels));
    }
    errors
}

/// `ValidateCronJobSpec`, as far as kube-sim checks it: the job template.
pub fn cron_job_spec(cron_job: &Value) -> Vec<FieldError> {
    let mut errors = job_spec_template(cron_job, "/spec/jobTemplate/spec", "spec.jobTemplate.spec");
    if let Some(selector) = cron_job
        .pointer("/spec/jobTemplate/spec/selector")
        .filter(|s| !s.is_null())
    {
        errors.push(selector::invalid(
            "spec.jobTemplate.spec.selector",
            selector,
            "`selector` will be auto-generated",
        ));
    }
    errors
}

/// A new CronJob's name leaves room for the suffix of its Jobs.
pub fn cron_job_name(cron_job: &Value) -> Option<FieldError> {
    let name = cron_job.name();
    (name.len() > CRON_JOB_NAME_MAX).then(|| {
        FieldError::invalid_string(
            "metadata.name",
            name,
            &format!("must be no more than {CRON_JOB_NAME_MAX} characters"),
        )
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_job_must_keep_the_generated_labels_and_selector() {
        let version = KubernetesVersion::DEFAULT;
        let job = json!({
            "metadata": {"name": "own", "uid": "u1"},
            "spec": {"selector": {"matchLabels": {"controller-uid": "u1"}}, "template": {"metadata": {"labels": {"controller-uid": "u1", "job-name": "other"}}}},
        });
        let errors = generated_selector(version, &job);
        assert_eq!(
            errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                r#"spec.template.metadata.labels[job-name]: Invalid value: map[string]string{"controller-uid":"u1", "job-name":"other"}: must be 'own'"#
            ]
        );
        let newer = "1.27".parse().expect("valid");
        let fields: Vec<String> = generated_selector(newer, &job)
            .iter()
            .map(|e| e.field().to_owned())
            .collect();
        assert_eq!(
            fields,
            [
                "spec.template.metadata.labels[job-name]",
                "spec.template.metadata.labels[batch.kubernetes.io/controller-uid]",
                "spec.template.metadata.labels[batch.kubernetes.io/job-name]",
            ]
        );
    }
}

//! Validation as the Kubernetes v1.25 API server does it, answered as it answers: 422
//! `Invalid`, the same message and one cause per field error.
//!
//! Checked on every kind (custom resources too): `metadata.name` and `generateName` with the
//! kind's rule, label keys and values, annotation keys and their total size. On workloads:
//! selectors, selectors against pod template labels, the templates' labels and annotations,
//! at least one container, restart policies, the Job's generated selector and labels, selector
//! immutability and which StatefulSet fields an update may change. Errors are collected in the
//! order the API server finds them, so several errors are answered together as it answers them.
//!
//! An update is checked as the API server checks it: labels and annotations twice by the
//! generic update code, then by the kind's own update validation, which for some kinds checks
//! the metadata or the spec more than once (the repeats show as repeated causes, not in the
//! message).

mod apps;
mod batch;
mod field;
mod go;
mod kinds;
mod meta;
mod names;
mod pods;
mod selector;

use serde_json::Value;

pub use batch::{generated_labels, selector_label};
pub use field::{FieldError, invalid};

use crate::catalog::ResourceType;
use crate::errors::ApiError;
use crate::object::ObjectExt;
use crate::version::KubernetesVersion;
use kinds::Spec;

/// How many times the generic update code checks labels and annotations before the kind does.
const GENERIC_UPDATE_META_CHECKS: usize = 2;

/// The answer to `errors` about `object` of type `rt`: none, or 422 `Invalid`.
fn answer(
    rules: &kinds::Rules<'_>,
    rt: &ResourceType,
    object: &Value,
    errors: &[FieldError],
) -> Result<(), ApiError> {
    if errors.is_empty() {
        return Ok(());
    }
    Err(invalid(rules.error_group, &rt.kind, object.name(), errors))
}

/// Checks a new object (defaulted, its name generated, its uid set) of type `rt`.
pub fn validate_create(
    version: KubernetesVersion,
    rt: &ResourceType,
    object: &Value,
) -> Result<(), ApiError> {
    let rules = kinds::of(rt);
    let mut errors = meta::on_create(object, rules.name);
    match rules.spec {
        Spec::MetadataOnly { .. } => {}
        Spec::Pod => errors.extend(pods::spec(object, "/spec", "spec")),
        Spec::PodTemplate => errors.extend(pods::template(object, "/template", "template")),
        Spec::Deployment | Spec::ReplicaSet => errors.extend(apps::replicated(object)),
        Spec::StatefulSet => errors.extend(apps::stateful_set(object)),
        Spec::DaemonSet => errors.extend(apps::daemon_set(object)),
        Spec::Job => {
            errors.extend(batch::generated_selector(version, object));
            errors.extend(batch::job_spec(object));
        }
        Spec::CronJob => {
            errors.extend(batch::cron_job_spec(object));
            errors.extend(batch::cron_job_name(object));
        }
    }
    answer(&rules, rt, object, &errors)
}

/// Checks an update of `old` to `new` (defaulted, system metadata kept) of type `rt`.
pub fn validate_update(
    version: KubernetesVersion,
    rt: &ResourceType,
    old: &Value,
    new: &Value,
) -> Result<(), ApiError> {
    let metadata = || meta::on_update(new);
    let mut errors: Vec<FieldError> = (0..GENERIC_UPDATE_META_CHECKS)
        .flat_map(|_| metadata())
        .collect();
    let rules = kinds::of(rt);
    match rules.spec {
        Spec::MetadataOnly { update_checks } => {
            errors.extend((0..update_checks).flat_map(|_| metadata()));
        }
        Spec::Pod => {
            errors.extend(metadata());
            errors.extend(pods::spec(new, "/spec", "spec"));
            errors.extend(metadata());
        }
        Spec::PodTemplate => {
            errors.extend(metadata());
            errors.extend(pods::template(new, "/template", "template"));
        }
        Spec::Deployment => {
            errors.extend(metadata());
            errors.extend(apps::replicated(new));
            errors.extend(apps::selector_unchanged(old, new));
        }
        spec @ (Spec::ReplicaSet | Spec::DaemonSet) => {
            let check = if spec == Spec::ReplicaSet {
                apps::replicated
            } else {
                apps::daemon_set
            };
            for _ in 0..2 {
                errors.extend(metadata());
                errors.extend(check(new));
            }
            errors.extend(apps::selector_unchanged(old, new));
        }
        Spec::StatefulSet => {
            errors.extend(metadata());
            errors.extend(apps::stateful_set(new));
            errors.extend(metadata());
            errors.extend(apps::stateful_set_update_allowed(version, old, new));
        }
        Spec::Job => {
            errors.extend(metadata());
            errors.extend(batch::generated_selector(version, new));
            errors.extend(batch::job_spec(new));
            errors.extend(metadata());
            errors.extend(batch::job_spec(new));
            errors.extend(apps::selector_unchanged(old, new));
        }
        Spec::CronJob => {
            errors.extend(metadata());
            errors.extend(batch::cron_job_spec(new));
        }
    }
    answer(&rules, rt, new, &errors)
}

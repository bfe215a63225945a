//! Rendering an in-cluster test: its Job template with minijinja (strict undefined) and the
//! build context, then the checks and additions every test Job gets: its results volume and
//! the collector container that prints the results into the pod's log.

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::{Map, Value, json};

use crate::check::{Action, PlannedTest};
use crate::context::{BuildContext, is_dns_label};
use crate::errors::Error;
use crate::results::{
    BUILD_LABEL, COLLECTOR_CONTAINER, PROBE_USER, RESULTS_PATH, RESULTS_VOLUME, TEST_JOB_LABEL,
    collector_container, results_volume,
};

/// The Kubernetes objects of one in-cluster test: its Job.
#[derive(Debug, Clone, PartialEq)]
pub struct JobObjects {
    /// `metadata.name` of the Job.
    pub job_name: String,
    /// The Job (`batch/v1`), with the results volume mounted in every container and the
    /// collector container ([`COLLECTOR_CONTAINER`]) last.
    pub job: Value,
}

impl PlannedTest {
    /// The name the built-in templates give the test's Job (`test-NAME`), offered to
    /// templates as `test.job`.
    pub fn job_name(&self) -> String {
        format!("test-{}", self.name)
    }

    /// Renders an in-cluster test's Job for a build, with its results volume and collector.
    ///
    /// The template sees `product`, `build`, `version`, `namespace`, `probe` (`image`,
    /// `repository`, `digest`), `results` (`path`, `volume`), `components` (by name:
    /// `name`, `chart` {`name`, `version`, `digest`}, `images` [{`reference`, `repository`,
    /// `digest`, `image`, `values`}]), `test` (`name`, `job`, `timeoutSeconds`, `retries`) and
    /// `params` (the entry's parameters). The Job must be `batch/v1` `Job` with a name; it gets
    /// the build's namespace, the labels `dev.chorale/build` and `dev.chorale/test-job` (also on
    /// its pods), `backoffLimit` = retries, `activeDeadlineSeconds` = the timeout,
    /// `restartPolicy: Never`, `shareProcessNamespace: true`, the results volume (an
    /// `emptyDir`) at `/chorale/results` in every container, the collector container last, and
    /// `fsGroup: 65534` unless its pod sets an fsGroup.
    pub fn render(&self, context: &BuildContext) -> Result<JobObjects, Error> {
        let Action::InCluster(job_test) = &self.action else {
            return Err(Error::NotInCluster {
                test: self.name.clone(),
                uses: self.uses.clone(),
            });
        };
        context
            .check()
            .map_err(|reason| Error::InvalidContext { reason })?;
        let template = &job_test.template;
        let text = render_text(
            &template.name,
            &template.text,
            &self.template_context(context, &job_test.parameters),
        )
        .map_err(|detail| Error::Template {
            test: self.name.clone(),
            template: template.name.clone(),
            detail,
        })?;
        let mut job: Value = serde_saphyr::from_str(&text).map_err(|error| Error::NotYaml {
            test: self.name.clone(),
            template: template.name.clone(),
            detail: error.without_snippet().to_string(),
        })?;
        let job_name = self
            .complete(&mut job, context)
            .map_err(|reason| Error::InvalidJob {
                test: self.name.clone(),
                template: template.name.clone(),
                reason,
            })?;
        Ok(JobObjects { job_name, job })
    }

    /// What the template sees.
    fn template_context(&self, context: &BuildContext, parameters: &Map<String, Value>) -> Value {
        let components: Map<String, Value> = context
            .components
            .iter()
            .map(|component| {
                let images: Vec<Value> = component
                    .images
                    .iter()
                    .map(|image| {
                        json!({
                            "reference": image.reference,
                            "repository": image.repository,
                            "digest": image.digest,
                            "image": format!("{}@{}", image.repository, image.digest),
                            "values": image.values,
                        })
                    })
                    .collect();
                let value = json!({
                    "name": component.name,
                    "chart": component.chart,
                    "images": images,
                });
                (component.name.clone(), value)
            })
            .collect();
        json!({
            "product": context.product,
            "build": context.build,
            "version": context.version,
            "namespace": context.namespace,
            "probe": {
                "image": context.probe.reference(),
                "repository": context.probe.repository,
                "digest": context.probe.digest,
            },
            "results": {
                "path": RESULTS_PATH,
                "volume": RESULTS_VOLUME,
            },
            "components": components,
            "test": {
                "name": self.name,
                "job": self.job_name(),
                "timeoutSeconds": self.timeout_seconds(),
                "retries": self.retries,
            },
            "params": parameters,
        })
    }

    /// The timeout in whole seconds, rounded up.
    pub(crate) fn timeout_seconds(&self) -> u64 {
        self.timeout.as_secs() + u64::from(self.timeout.subsec_nanos() > 0)
    }

    /// Checks the rendered Job and adds what every test Job has; returns its name.
    fn complete(&self, job: &mut Value, context: &BuildContext) -> Result<String, String> {
        if !job.is_object() {
            return Err("the template must render one YAML mapping, a Job".to_owned());
        }
        for (field, expected) in [("apiVersion", "batch/v1"), ("kind", "Job")] {
            let found = job.get(field).and_then(Value::as_str).unwrap_or_default();
            if found != expected {
                return Err(format!("{field} is `{found}`; it must be `{expected}`"));
            }
        }
        let metadata = object_at(job, &["metadata"])?;
        let name = metadata
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !is_dns_label(&name, 63) {
            return Err(format!(
                "metadata.name `{name}` is not a DNS label of at most 63 characters; write `name: {{{{ test.job }}}}`"
            ));
        }
        match metadata.get("namespace").and_then(Value::as_str) {
            Some(namespace) if namespace != context.namespace => {
                return Err(format!(
                    "metadata.namespace is `{namespace}`; leave it out, test Jobs run in the build's namespace"
                ));
            }
            _ => {
                metadata.insert("namespace".to_owned(), json!(context.namespace));
            }
        }
        for path in [
            &["metadata", "labels"][..],
            &["spec", "template", "metadata", "labels"],
        ] {
            let labels = object_at(job, path)?;
            labels.insert(BUILD_LABEL.to_owned(), json!(context.build));
            labels.insert(TEST_JOB_LABEL.to_owned(), json!(self.name));
        }
        let spec = object_at(job, &["spec"])?;
        spec.insert("backoffLimit".to_owned(), json!(self.retries));
        spec.insert(
            "activeDeadlineSeconds".to_owned(),
            json!(self.timeout_seconds()),
        );
        let pod = object_at(job, &["spec", "template", "spec"])?;
        pod.insert("restartPolicy".to_owned(), json!("Never"));
        // The collector sees the other containers' processes end (see `results`).
        pod.insert("shareProcessNamespace".to_owned(), json!(true));
        let volumes = array_at(pod, "volumes")?;
        if volumes
            .iter()
            .any(|volume| volume.get("name").and_then(Value::as_str) == Some(RESULTS_VOLUME))
        {
            return Err(format!(
                "it has a volume named `{RESULTS_VOLUME}`; that name is Chorale's results volume, rename it"
            ));
        }
        volumes.push(results_volume());
        let mut containers = 0;
        for list in ["initContainers", "containers"] {
            let Some(items) = pod.get_mut(list) else {
                continue;
            };
            let items = items
                .as_array_mut()
                .ok_or_else(|| format!("spec.template.spec.{list} is not a list"))?;
            for container in items {
                containers += usize::from(list == "containers");
                let container = container
                    .as_object_mut()
                    .ok_or_else(|| format!("an item of spec.template.spec.{list} is not a map"))?;
                if container.get("name").and_then(Value::as_str) == Some(COLLECTOR_CONTAINER) {
                    return Err(format!(
                        "a container is named `{COLLECTOR_CONTAINER}`; that name is Chorale's results collector, rename it"
                    ));
                }
                let mounts = array_at(container, "volumeMounts")?;
                if mounts.iter().any(|mount| {
                    mount.get("mountPath").and_then(Value::as_str) == Some(RESULTS_PATH)
                }) {
                    return Err(format!(
                        "a container mounts a volume at {RESULTS_PATH}; leave that path to Chorale's results volume"
                    ));
                }
                mounts.push(json!({ "name": RESULTS_VOLUME, "mountPath": RESULTS_PATH }));
            }
        }
        if containers == 0 {
            return Err(
                "spec.template.spec.containers is empty; give the Job a container".to_owned(),
            );
        }
        array_at(pod, "containers")?.push(collector_container(self, context));
        let security = object_at(job, &["spec", "template", "spec", "securityContext"])?;
        security
            .entry("fsGroup")
            .or_insert_with(|| json!(PROBE_USER));
        Ok(name)
    }
}

/// Renders a template with strict undefined values; the error names the template line.
fn render_text(name: &str, text: &str, context: &Value) -> Result<String, String> {
    let mut environment = Environment::new();
    environment.set_undefined_behavior(UndefinedBehavior::Strict);
    // minijinja would print values of `*.yaml` templates as JSON; templates say `| tojson`
    // where they want that.
    environment.set_auto_escape_callback(|_| AutoEscape::None);
    environment.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(true)
            .build()
            .expect("the default delimiters are valid"),
    );
    let describe = |error: minijinja::Error| {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(&error);
        while let Some(inner) = source {
            text.push_str(": ");
            text.push_str(&inner.to_string());
            source = inner.source();
        }
        text
    };
    let template = environment
        .template_from_named_str(name, text)
        .map_err(describe)?;
    template
        .render(minijinja::value::Serde(context))
        .map_err(describe)
}

/// The object at `path` under `value`, created (empty) where missing.
fn object_at<'a>(
    value: &'a mut Value,
    path: &[&str],
) -> Result<&'a mut Map<String, Value>, String> {
    let mut current = value;
    for (depth, key) in path.iter().enumerate() {
        let object = current
            .as_object_mut()
            .ok_or_else(|| format!("{} is not a map", path[..depth].join(".")))?;
        current = object
            .entry(*key)
            .or_insert_with(|| Value::Object(Map::new()));
        if current.is_null() {
            *current = Value::Object(Map::new());
        }
    }
    current
        .as_object_mut()
        .ok_or_else(|| format!("{} is not a map", path.join(".")))
}

/// The list under `key`, created (empty) where missing.
fn array_at<'a>(
    object: &'a mut Map<String, Value>,
    key: &str,
) -> Result<&'a mut Vec<Value>, String> {
    let value = object
        .entry(key)
        .or_insert_with(|| Value::Array(Vec::new()));
    if value.is_null() {
        *value = Value::Array(Vec::new());
    }
    value
        .as_array_mut()
        .ok_or_else(|| format!("{key} is not a list"))
}

//! The checked test plan: what the pipeline runs for each test, and the function that turns a
//! written plan into it or into every [`Problem`] it has.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use serde_saphyr::{Location, Spanned};

use crate::catalogue::{Catalogue, Entry, Runs, Template, TemplateSource};
use crate::context::{BuildContext, is_dns_label};
use crate::duration;
use crate::node::Node;
use crate::parameters::Checker;
use crate::written::{Gate, Problem, TestPlanEntry};

/// The most retries a test may have.
pub const MAX_RETRIES: u32 = 10;

/// The longest test name: Job, claim and Pod names are derived from it.
pub const MAX_NAME_LENGTH: usize = 53;

/// One checked test: every value valid, defaults applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedTest {
    /// The test's name, unique in the plan.
    pub name: String,
    /// The catalogue entry it uses.
    pub uses: String,
    /// Whether a failure fails the build.
    pub gate: Gate,
    /// How long the test may take, retries included.
    #[serde(with = "duration::text")]
    pub timeout: Duration,
    /// How many times a failed run is retried.
    pub retries: u32,
    /// What the pipeline does to run it.
    pub action: Action,
}

/// What the pipeline does to run a test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    /// Wait until every workload of the product's releases is ready, then watch that each
    /// stays ready, with no container restart, for `settle`. One test case per workload.
    WorkloadsReady {
        /// How long everything must stay ready.
        #[serde(with = "duration::text")]
        settle: Duration,
    },
    /// `helm test RELEASE` for each component (its release), one test case per component,
    /// the test pods' logs kept.
    HelmTest {
        /// The components, in plan order (every component when the plan names none).
        components: Vec<String>,
    },
    /// For each Deployment of the components' releases, delete one of its pods and wait until
    /// the Deployment is fully ready again without that pod, then stays ready for `settle`.
    /// One test case per Deployment.
    PodRestart {
        /// The components whose Deployments lose a pod.
        components: Vec<String>,
        /// How long a recovered Deployment must stay ready.
        #[serde(with = "duration::text")]
        settle: Duration,
    },
    /// A Kubernetes Job: render it with [`PlannedTest::render`] and run it with its results
    /// claim and collector.
    InCluster(JobTest),
}

/// An in-cluster test: its Job template and the parameters the template reads as `params`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobTest {
    /// The Job template, read when the plan was checked.
    pub template: Template,
    /// The entry's parameters, checked, with defaults applied.
    pub parameters: Map<String, Value>,
}

/// Checks a test plan against the built-in catalogue; see [`Catalogue::check_plan`].
pub fn check_plan(
    plan: &[TestPlanEntry],
    base_dir: &Path,
    sample: &BuildContext,
) -> Result<Vec<PlannedTest>, Vec<Problem>> {
    Catalogue::builtin().check_plan(plan, base_dir, sample)
}

impl Catalogue {
    /// Checks a test plan and returns what to run, or every problem it has: names (DNS
    /// labels, unique), `uses` (an entry of this catalogue), timeout, retries, each entry's
    /// parameters, and that every Job renders.
    ///
    /// `base_dir` is the product file's folder (`job` templates are relative to it).
    /// `sample` stands for a build: its components are the product's (the `components`
    /// parameters name them), and every Job template is rendered with it, so build it with
    /// [`BuildContext::sample`] and [`ComponentContext::unpinned`](crate::ComponentContext::unpinned)
    /// from the manifest's components.
    pub fn check_plan(
        &self,
        plan: &[TestPlanEntry],
        base_dir: &Path,
        sample: &BuildContext,
    ) -> Result<Vec<PlannedTest>, Vec<Problem>> {
        let components = sample.component_names();
        let mut checker = Checker::new(&components, base_dir);
        let mut tests = Vec::new();
        let mut names: HashMap<&str, Location> = HashMap::new();
        let mut jobs: HashMap<String, String> = HashMap::new();
        for written in plan {
            let name = &written.name;
            if !is_dns_label(&name.value, MAX_NAME_LENGTH) {
                checker.problems.push(Problem {
                    location: name.referenced,
                    message: format!(
                        "test name `{}` is not a DNS label; use 1 to {MAX_NAME_LENGTH} lower-case letters, digits and `-`, starting and ending with a letter or digit",
                        name.value
                    ),
                });
            } else if let Some(first) = names.get(name.value.as_str()) {
                checker.problems.push(Problem {
                    location: name.referenced,
                    message: format!(
                        "test `{}` is defined twice (first at line {}); test names must be unique",
                        name.value,
                        first.line()
                    ),
                });
            } else {
                names.insert(&name.value, name.referenced);
            }
            let before = checker.problems.len();
            let Some(test) = self.check_test(written, base_dir, &mut checker) else {
                continue;
            };
            if checker.problems.len() > before {
                continue;
            }
            if let Action::InCluster(_) = &test.action {
                match test.render(sample) {
                    Ok(objects) => {
                        if let Some(other) = jobs.insert(objects.job_name.clone(), test.name.clone())
                        {
                            checker.problems.push(Problem {
                                location: template_location(written),
                                message: format!(
                                    "the Job of test `{}` is named `{}` like the Job of test `{other}`; name it `{{{{ test.job }}}}`",
                                    test.name, objects.job_name
                                ),
                            });
                        }
                    }
                    Err(error) => checker.problems.push(Problem {
                        location: template_location(written),
                        message: format!(
                            "{error} (rendered with placeholders for the build's id, version and digests)"
                        ),
                    }),
                }
            }
            tests.push(test);
        }
        if checker.problems.is_empty() {
            Ok(tests)
        } else {
            let mut problems = checker.problems;
            problems.sort_by_key(|problem| (problem.location.line(), problem.location.column()));
            Err(problems)
        }
    }

    fn check_test(
        &self,
        written: &TestPlanEntry,
        base_dir: &Path,
        checker: &mut Checker<'_>,
    ) -> Option<PlannedTest> {
        let uses = &written.uses;
        let Some(entry) = self.get(&uses.value) else {
            checker.problems.push(Problem {
                location: uses.referenced,
                message: format!(
                    "unknown test job `{}`; the catalogue has {}",
                    uses.value,
                    self.names()
                ),
            });
            return None;
        };
        let timeout = match &written.timeout {
            None => Some(entry.timeout),
            Some(text) => match duration::parse(&text.value) {
                Ok(timeout) if timeout >= Duration::from_secs(1) => Some(timeout),
                Ok(_) => problem(
                    checker,
                    text,
                    format!(
                        "timeout `{}` is shorter than 1s; Kubernetes counts deadlines in whole seconds",
                        text.value
                    ),
                ),
                Err(reason) => problem(checker, text, format!("timeout {reason}")),
            },
        };
        let retries = match &written.retries {
            None => Some(entry.retries),
            Some(retries) if retries.value <= MAX_RETRIES => Some(retries.value),
            Some(retries) => problem(
                checker,
                retries,
                format!(
                    "retries is {}; give a number from 0 to {MAX_RETRIES}",
                    retries.value
                ),
            ),
        };
        let parameters = checker.fields(
            &entry.parameters,
            written.with.as_ref(),
            uses.referenced,
            "with",
        );
        let action = action(entry, parameters?, written, base_dir, checker)?;
        Some(PlannedTest {
            name: written.name.value.clone(),
            uses: entry.name.clone(),
            gate: written.gate,
            timeout: timeout?,
            retries: retries?,
            action,
        })
    }
}

fn problem<T, U>(checker: &mut Checker<'_>, at: &Spanned<T>, message: String) -> Option<U> {
    checker.problems.push(Problem {
        location: at.referenced,
        message,
    });
    None
}

/// Builds the action of a test whose parameters are valid.
fn action(
    entry: &Entry,
    parameters: Map<String, Value>,
    written: &TestPlanEntry,
    base_dir: &Path,
    checker: &mut Checker<'_>,
) -> Option<Action> {
    let duration = |name: &str| {
        parameters
            .get(name)
            .and_then(Value::as_str)
            .and_then(|text| duration::parse(text).ok())
            .expect("durations are checked and normalized")
    };
    let components = || {
        parameters
            .get("components")
            .and_then(Value::as_array)
            .expect("components are checked and resolved")
            .iter()
            .filter_map(|name| name.as_str().map(str::to_owned))
            .collect()
    };
    let action = match (entry.runs, entry.name.as_str(), &entry.template) {
        (Runs::Chorale, "workloads-ready", _) => Action::WorkloadsReady {
            settle: duration("settle"),
        },
        (Runs::Chorale, "helm-test", _) => Action::HelmTest {
            components: components(),
        },
        (Runs::Chorale, "pod-restart", _) => Action::PodRestart {
            components: components(),
            settle: duration("settle"),
        },
        (Runs::InCluster, _, Some(TemplateSource::Builtin(template))) => {
            Action::InCluster(JobTest {
                template: template.clone(),
                parameters,
            })
        }
        (Runs::InCluster, _, Some(TemplateSource::Parameter(name))) => {
            let relative = parameters
                .get(name)
                .and_then(Value::as_str)
                .expect("paths are checked")
                .to_owned();
            let path = base_dir.join(&relative);
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(error) => {
                    checker.problems.push(Problem {
                        location: template_location(written),
                        message: format!(
                            "cannot read the Job template {}: {error}",
                            path.display()
                        ),
                    });
                    return None;
                }
            };
            Action::InCluster(JobTest {
                template: Template {
                    name: relative,
                    text,
                },
                parameters,
            })
        }
        _ => unreachable!("the catalogue loader accepts only the checks Chorale performs"),
    };
    Some(action)
}

/// Where a complaint about a test's Job belongs: its `with.template` value when it names a
/// file, else its `uses`.
fn template_location(written: &TestPlanEntry) -> Location {
    if let Some(Spanned {
        value: Node::Map(entries),
        ..
    }) = &written.with
        && let Some((_, value)) = entries.iter().find(|(key, _)| key.value == "template")
    {
        return value.referenced;
    }
    written.uses.referenced
}

//! The differential test: kube-sim must answer every case of the corpus in
//! `tests/differential/` exactly as a real Kubernetes v1.25 API server answered it.
//!
//! Each case file holds an object (valid or not), optionally an `update` (a JSON merge patch
//! applied to the created object, then sent with PUT), optionally `compare` (JSON pointers
//! into a successful answer whose values are compared too), and the `answer` recorded from a
//! real v1.25 API server: the HTTP status code and, for a refusal, the whole `Status` (reason,
//! message, details with their causes). The object's uid and a generated name are written
//! `$(uid)` and `$(generated-name)` in the record, and a string `$(repeat N TEXT)` in an object
//! stands for TEXT repeated N times (for annotations of 256 KiB).
//!
//! How it runs:
//! - Always: every case is sent to a fresh `kube-sim serve` (Kubernetes 1.25.9, over HTTPS, in
//!   a namespace the test creates) and each answer must equal the record.
//! - When `CHORALE_E2E_KUBECONFIG` names a kubeconfig: every case is also sent to that real
//!   cluster (in a fresh `diff-…` namespace, deleted afterwards), and its answers must equal
//!   the record too, so the record cannot drift from the real server.
//! - `KUBE_SIM_DIFFERENTIAL_RECORD=1` (with `CHORALE_E2E_KUBECONFIG`) rewrites the `answer` of
//!   every case file from the real cluster's answers instead of checking them, then checks
//!   kube-sim against the new record:
//!
//!   ```sh
//!   CHORALE_E2E_KUBECONFIG=/tmp/k8s-real/kubeconfig KUBE_SIM_DIFFERENTIAL_RECORD=1 \
//!     cargo nextest run -p kube-sim -E 'test(differential)'
//!   ```
//!
//! A new case is a new file: write the object (and `description`), leave `answer` out, and
//! record. Keep one invalid entry per label or annotation map: the API server checks a map in
//! Go's random order, so two bad entries in one map are reported in either order.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kube::client::Body;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::support::{Sim, sim};

/// Names a kubeconfig of a real cluster to check the record against.
const REAL_CLUSTER: &str = "CHORALE_E2E_KUBECONFIG";
/// Set to `1` to rewrite the record from the real cluster.
const RECORD: &str = "KUBE_SIM_DIFFERENTIAL_RECORD";
/// Where the record's answers start in a case file.
const ANSWER_KEY: &str = "answer:";
/// How often an update is retried when a controller changed the object meanwhile.
const UPDATE_ATTEMPTS: usize = 5;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/differential")
}

/// One case of the corpus.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    /// What the case shows.
    description: String,
    /// The object sent with POST.
    object: Value,
    /// A JSON merge patch applied to the created object, sent with PUT.
    #[serde(default)]
    update: Option<Value>,
    /// JSON pointers into a successful answer whose values are part of the answer.
    #[serde(default)]
    compare: Vec<String>,
    /// The answer recorded from a real v1.25 API server.
    #[serde(default)]
    answer: Option<Answer>,
}

/// What a server answered to a case.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    /// The HTTP status code.
    code: u16,
    /// The `Status` of a refusal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<Value>,
    /// The values at the case's `compare` pointers of an accepted object.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    fields: Map<String, Value>,
}

/// A case file, read.
struct CaseFile {
    path: PathBuf,
    text: String,
    case: Case,
}

impl CaseFile {
    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

fn read_corpus() -> Vec<CaseFile> {
    let dir = corpus_dir();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("could not read the corpus {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "the corpus {} is empty", dir.display());
    let files: Vec<CaseFile> = paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("could not read {}: {e}", path.display()));
            let case: Case = serde_saphyr::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not a valid case: {e}", path.display()));
            CaseFile { path, text, case }
        })
        .collect();
    check_names_are_unique(&files);
    files
}

/// Objects that may be created share one namespace: their kinds and names must differ.
fn check_names_are_unique(files: &[CaseFile]) {
    let mut seen = BTreeSet::new();
    for file in files {
        let object = &file.case.object;
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        if let Some(name) = name {
            let kind = object["kind"].as_str().unwrap_or_default();
            assert!(
                seen.insert((kind.to_owned(), name.to_owned())),
                "{}: another case already uses {kind} {name:?}; give each case its own name",
                file.name()
            );
        }
        if kind_of(object) == "Namespace" {
            assert!(
                name.is_some_and(|n| n.starts_with("diff-")),
                "{}: Namespaces of the corpus are named diff-… (they may be created on a shared cluster)",
                file.name()
            );
        }
    }
}

fn kind_of(object: &Value) -> &str {
    object["kind"].as_str().unwrap_or_default()
}

/// Expands `$(repeat N TEXT)` in every string of an object.
fn expand(value: &mut Value) {
    match value {
        Value::String(text) => {
            if let Some(inner) = text
                .strip_prefix("$(repeat ")
                .and_then(|rest| rest.strip_suffix(')'))
                && let Some((count, unit)) = inner.split_once(' ')
                && let Ok(count) = count.parse::<usize>()
            {
                *text = unit.repeat(count);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(expand),
        Value::Object(map) => map.values_mut().for_each(expand),
        _ => {}
    }
}

/// The plural of a kind in request paths.
fn plural(kind: &str) -> String {
    match kind {
        "Endpoints" => "endpoints".to_owned(),
        "Ingress" => "ingresses".to_owned(),
        "NetworkPolicy" => "networkpolicies".to_owned(),
        "PodDisruptionBudget" => "poddisruptionbudgets".to_owned(),
        _ => format!("{}s", kind.to_lowercase()),
    }
}

/// A cluster the corpus is sent to: a client and the namespace of this run.
struct Target {
    label: &'static str,
    client: Client,
    namespace: String,
}

impl Target {
    async fn connect(label: &'static str, kubeconfig: &Path) -> Self {
        let kubeconfig = Kubeconfig::read_from(kubeconfig)
            .unwrap_or_else(|e| panic!("could not read the {label} kubeconfig: {e}"));
        let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap_or_else(|e| panic!("the {label} kubeconfig is not usable: {e}"));
        let client = Client::try_from(config)
            .unwrap_or_else(|e| panic!("could not make a client for {label}: {e}"));
        let namespace = format!(
            "diff-kube-sim-{}-{}",
            std::process::id(),
            jiff::Timestamp::now().as_millisecond() % 1_000_000
        );
        let target = Self {
            label,
            client,
            namespace,
        };
        let (code, body) = target
            .send(
                http::Method::POST,
                "/api/v1/namespaces",
                Some(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": target.namespace}})),
            )
            .await;
        assert_eq!(code, 201, "creating the namespace on {label}: {body}");
        target
    }

    async fn send(&self, method: http::Method, path: &str, body: Option<&Value>) -> (u16, Value) {
        let mut request = http::Request::builder().method(method).uri(path);
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let bytes = body
            .map(|b| serde_json::to_vec(b).expect("JSON"))
            .unwrap_or_default();
        let request = request.body(Body::from(bytes)).expect("a request");
        let response = self
            .client
            .send(request)
            .await
            .unwrap_or_else(|e| panic!("sending {path} to {}: {e}", self.label));
        let code = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect_bytes()
            .await
            .unwrap_or_else(|e| panic!("reading the answer to {path} from {}: {e}", self.label));
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (code, body)
    }

    fn collection(&self, object: &Value) -> String {
        let api_version = object["apiVersion"].as_str().unwrap_or("v1");
        let root = if api_version.contains('/') {
            format!("/apis/{api_version}")
        } else {
            format!("/api/{api_version}")
        };
        let kind = kind_of(object);
        if kind == "Namespace" {
            format!("{root}/namespaces")
        } else {
            format!("{root}/namespaces/{}/{}", self.namespace, plural(kind))
        }
    }

    /// Sends a case and returns its answer, normalised.
    async fn run(&self, case: &Case) -> Answer {
        let mut object = case.object.clone();
        expand(&mut object);
        let collection = self.collection(&object);
        let (mut code, mut body) = self
            .send(http::Method::POST, &collection, Some(&object))
            .await;
        let item = body
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(|name| format!("{collection}/{name}"));
        if let (Some(update), Some(item), 201) = (&case.update, &item, code) {
            for _ in 0..UPDATE_ATTEMPTS {
                let (_, mut current) = self.send(http::Method::GET, item, None).await;
                json_patch::merge(&mut current, update);
                (code, body) = self.send(http::Method::PUT, item, Some(&current)).await;
                if code != 409 {
                    break;
                }
            }
        }
        if kind_of(&object) == "Namespace"
            && let Some(item) = &item
        {
            self.send(http::Method::DELETE, item, None).await;
        }
        answer(case, code, body)
    }

    async fn delete_namespace(&self) {
        let path = format!("/api/v1/namespaces/{}", self.namespace);
        self.send(http::Method::DELETE, &path, None).await;
    }
}

/// The answer to a case, with what differs between runs (uids, generated names) replaced.
fn answer(case: &Case, code: u16, body: Value) -> Answer {
    let success = (200..300).contains(&code);
    let generated = case
        .object
        .pointer("/metadata/generateName")
        .filter(|_| case.object.pointer("/metadata/name").is_none())
        .and_then(|_| {
            let pointer = if success {
                "/metadata/name"
            } else {
                "/details/name"
            };
            body.pointer(pointer).and_then(Value::as_str)
        })
        .map(str::to_owned);
    let mut fields = Map::new();
    let mut status = None;
    if success {
        for pointer in &case.compare {
            let value = body.pointer(pointer).cloned().unwrap_or(Value::Null);
            fields.insert(pointer.clone(), value);
        }
    } else {
        status = Some(body);
    }
    let mut answer = Answer {
        code,
        status,
        fields,
    };
    if let Some(status) = &mut answer.status {
        normalise(status, generated.as_deref());
    }
    for value in answer.fields.values_mut() {
        normalise(value, generated.as_deref());
    }
    answer
}

/// Replaces uids with `$(uid)` and the generated name with `$(generated-name)`, in keys too.
fn normalise(value: &mut Value, generated: Option<&str>) {
    let fix = |text: &str| {
        let text = replace_uuids(text);
        match generated {
            Some(name) => text.replace(name, "$(generated-name)"),
            None => text,
        }
    };
    match value {
        Value::String(text) => *text = fix(text),
        Value::Array(items) => items.iter_mut().for_each(|v| normalise(v, generated)),
        Value::Object(map) => {
            let entries: Vec<(String, Value)> = std::mem::take(map).into_iter().collect();
            for (key, mut item) in entries {
                normalise(&mut item, generated);
                map.insert(fix(&key), item);
            }
        }
        _ => {}
    }
}

/// Replaces every UUID (8-4-4-4-12 hexadecimal digits) in a text with `$(uid)`.
fn replace_uuids(text: &str) -> String {
    const SHAPE: [usize; 5] = [8, 4, 4, 4, 12];
    const LENGTH: usize = 36;
    let is_uuid = |candidate: &[u8]| {
        let mut at = 0;
        SHAPE.iter().enumerate().all(|(index, len)| {
            let group = &candidate[at..at + len];
            at += len + 1;
            group.iter().all(u8::is_ascii_hexdigit)
                && (index == SHAPE.len() - 1 || candidate[at - 1] == b'-')
        })
    };
    let bytes = text.as_bytes();
    let mut result = String::with_capacity(text.len());
    let mut index = 0;
    while index < bytes.len() {
        if index + LENGTH <= bytes.len() && is_uuid(&bytes[index..index + LENGTH]) {
            result.push_str("$(uid)");
            index += LENGTH;
        } else {
            let c = text[index..].chars().next().expect("a character");
            result.push(c);
            index += c.len_utf8();
        }
    }
    result
}

/// Sends the whole corpus to a target; the answers in corpus order.
async fn run_corpus(target: &Target, files: &[CaseFile]) -> Vec<Answer> {
    let mut answers = Vec::with_capacity(files.len());
    for file in files {
        answers.push(target.run(&file.case).await);
    }
    target.delete_namespace().await;
    answers
}

/// The differences between the record and a target's answers, one paragraph per case.
fn differences(files: &[CaseFile], answers: &[Answer], label: &str) -> Vec<String> {
    files
        .iter()
        .zip(answers)
        .filter_map(|(file, actual)| match &file.case.answer {
            None => Some(format!(
                "{}: no answer is recorded; record it from a real cluster ({RECORD}=1 with {REAL_CLUSTER})",
                file.name()
            )),
            Some(expected) if expected == actual => None,
            Some(expected) => Some(format!(
                "{} ({}):\n  recorded: {}\n  {label}: {}",
                file.name(),
                file.case.description,
                serde_json::to_string(expected).unwrap_or_default(),
                serde_json::to_string(actual).unwrap_or_default(),
            )),
        })
        .collect()
}

/// Rewrites the `answer` of a case file, keeping everything before it as written.
fn record(file: &CaseFile, answer: &Answer) {
    let kept = file
        .text
        .match_indices(&format!("\n{ANSWER_KEY}"))
        .last()
        .map_or(file.text.as_str(), |(at, _)| &file.text[..=at]);
    let mut text = kept.trim_end().to_owned();
    text.push('\n');
    text.push_str(ANSWER_KEY);
    text.push_str(" # recorded from a real Kubernetes v1.25 API server\n");
    let yaml = serde_saphyr::to_string(answer).expect("the answer as YAML");
    for line in yaml.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    let reread: Case = serde_saphyr::from_str(&text)
        .unwrap_or_else(|e| panic!("the recorded {} does not read back: {e}", file.name()));
    assert_eq!(
        reread.answer.as_ref(),
        Some(answer),
        "the recorded {} does not read back as written",
        file.name()
    );
    std::fs::write(&file.path, text)
        .unwrap_or_else(|e| panic!("could not write {}: {e}", file.path.display()));
}

#[tokio::test(flavor = "multi_thread")]
async fn kube_sim_answers_every_case_as_the_recorded_real_api_server() {
    let mut files = read_corpus();
    let real_cluster = std::env::var_os(REAL_CLUSTER).map(PathBuf::from);
    let recording = std::env::var(RECORD).is_ok_and(|v| v == "1");
    assert!(
        !recording || real_cluster.is_some(),
        "{RECORD}=1 records from a real cluster: set {REAL_CLUSTER} to its kubeconfig"
    );

    let mut failures = Vec::new();
    if let Some(kubeconfig) = &real_cluster {
        let real = Target::connect("the real cluster", kubeconfig).await;
        let answers = run_corpus(&real, &files).await;
        if recording {
            for (file, answer) in files.iter_mut().zip(&answers) {
                record(file, answer);
                file.case.answer = Some(answer.clone());
            }
        } else {
            failures.extend(differences(&files, &answers, "real cluster"));
        }
    }

    let sim = Sim::start(&sim::unique_name("differential"));
    let target = Target::connect("kube-sim", &sim.kubeconfig).await;
    let answers = run_corpus(&target, &files).await;
    failures.extend(differences(&files, &answers, "kube-sim"));
    assert!(
        failures.is_empty(),
        "{} of {} cases differ from the record:\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn answers_are_normalised_and_repeats_expanded() {
    assert_eq!(
        replace_uuids("uid 0f251189-4d95-4e49-a6d0-71c8020cc098 and 0f251189"),
        "uid $(uid) and 0f251189"
    );
    let mut object =
        json!({"metadata": {"annotations": {"big": "$(repeat 3 ab)", "small": "$(repeat x)"}}});
    expand(&mut object);
    assert_eq!(
        object,
        json!({"metadata": {"annotations": {"big": "ababab", "small": "$(repeat x)"}}})
    );
    let case: Case = serde_saphyr::from_str(
        "description: d\nobject: {kind: ConfigMap, metadata: {generateName: g-}}\n",
    )
    .expect("a case");
    let answer = answer(
        &case,
        422,
        json!({"message": "ConfigMap \"g-x7k2p\" is invalid", "details": {"name": "g-x7k2p"}}),
    );
    assert_eq!(
        answer.status,
        Some(
            json!({"message": "ConfigMap \"$(generated-name)\" is invalid", "details": {"name": "$(generated-name)"}})
        )
    );
}

//! The registry fixture against independent clients (skopeo, buildah): anonymous, basic and
//! token auth, stop and start again, multi-arch indexes.

use std::process::Command;

use chorale_testkit::{MultiArchImage, Registry, ScratchImage};

fn tiny(label: &str) -> ScratchImage {
    ScratchImage::new()
        .file("/hello.txt", format!("hello from {label}\n"))
        .label("test", label)
}

/// `skopeo inspect --raw` with the given credentials; returns whether it succeeded and what
/// it printed.
fn skopeo(registry: &Registry, reference: &str, creds: Option<&str>) -> (bool, String) {
    let mut command = Command::new("skopeo");
    command.args(["inspect", "--raw", "--tls-verify=false"]);
    match creds {
        Some(creds) => command.args(["--creds", creds]),
        None => command.arg("--no-creds"),
    };
    let output = command
        .arg(format!("docker://{}/{reference}", registry.host()))
        .output()
        .expect("skopeo runs");
    let text = String::from_utf8_lossy(if output.status.success() {
        &output.stdout
    } else {
        &output.stderr
    })
    .into_owned();
    (output.status.success(), text)
}

#[test]
fn an_anonymous_registry_serves_what_was_pushed_and_comes_back_after_a_stop() {
    let registry = Registry::start().unwrap();
    assert!(registry.host().starts_with("127.0.0.1:"));
    assert!(registry.credentials().is_none());
    let pushed = tiny("anonymous").push(&registry, "demo/hello:1").unwrap();
    assert_eq!(
        pushed.reference,
        format!("{}/demo/hello:1", registry.host())
    );
    assert_eq!(registry.digest_of("demo/hello:1").unwrap(), pushed.digest);
    let (ok, raw) = skopeo(&registry, "demo/hello:1", None);
    assert!(ok, "{raw}");
    assert!(
        raw.contains("application/vnd.oci.image.manifest.v1+json"),
        "{raw}"
    );

    registry.stop();
    assert!(!registry.is_running());
    assert!(std::net::TcpStream::connect(registry.host()).is_err());
    let (ok, _) = skopeo(&registry, "demo/hello:1", None);
    assert!(!ok, "a stopped registry must not answer");

    registry.start_again().unwrap();
    assert!(registry.is_running());
    assert_eq!(registry.digest_of("demo/hello:1").unwrap(), pushed.digest);
}

#[test]
fn the_same_inputs_give_the_same_digest() {
    let registry = Registry::start().unwrap();
    let first = tiny("same").push(&registry, "demo/same:1").unwrap();
    let second = tiny("same").push(&registry, "demo/same:2").unwrap();
    let other = tiny("other").push(&registry, "demo/same:3").unwrap();
    assert_eq!(first.digest, second.digest);
    assert_ne!(first.digest, other.digest);
    assert_eq!(
        second.pinned(),
        format!("{}/demo/same@{}", registry.host(), second.digest)
    );
}

/// Pushes an image with the fixture's credentials, then checks with skopeo that anonymous
/// and wrong credentials are refused with `refusal` and the right ones are accepted.
fn assert_only_the_right_credentials_pass(registry: &Registry, refusal: &str) {
    let (user, password) = registry.credentials().unwrap();
    let pushed = tiny(user).push(registry, "private/hello:1").unwrap();
    for creds in [None, Some(format!("{user}:wrong"))] {
        let (ok, error) = skopeo(registry, "private/hello:1", creds.as_deref());
        assert!(!ok, "{creds:?} must be refused");
        assert!(error.contains(refusal), "{creds:?}: {error}");
    }
    let (ok, raw) = skopeo(
        registry,
        "private/hello:1",
        Some(&format!("{user}:{password}")),
    );
    assert!(ok, "{raw}");
    assert_eq!(
        registry.digest_of("private/hello:1").unwrap(),
        pushed.digest
    );
}

#[test]
fn basic_auth_rejects_wrong_credentials_and_accepts_right_ones() {
    let registry = Registry::start_with_basic_auth("alice", "wonderland").unwrap();
    assert_eq!(registry.credentials(), Some(("alice", "wonderland")));
    assert!(registry.token_realm().is_none());
    assert_only_the_right_credentials_pass(&registry, "unauthorized");
}

#[test]
fn token_auth_issues_tokens_the_registry_accepts() {
    let registry = Registry::start_with_token_auth("bob", "builder").unwrap();
    let realm = registry.token_realm().unwrap().to_owned();
    assert!(
        realm.starts_with("http://127.0.0.1:") && realm.ends_with("/token"),
        "{realm}"
    );
    // Refusals come from the token server, which the registry's challenge points to.
    assert_only_the_right_credentials_pass(&registry, "wrong or missing credentials");

    let token_server = realm
        .trim_start_matches("http://")
        .trim_end_matches("/token")
        .to_owned();
    drop(registry);
    assert!(
        std::net::TcpStream::connect(token_server).is_err(),
        "the token server stops with the registry"
    );
}

#[test]
fn another_thread_can_take_the_registry_down() {
    let registry = std::sync::Arc::new(Registry::start().unwrap());
    let pushed = tiny("shared").push(&registry, "demo/shared:1").unwrap();
    let stopper = std::sync::Arc::clone(&registry);
    std::thread::spawn(move || stopper.stop()).join().unwrap();
    assert!(!registry.is_running());
    assert!(registry.digest_of("demo/shared:1").is_err());
    registry.start_again().unwrap();
    assert_eq!(registry.digest_of("demo/shared:1").unwrap(), pushed.digest);
}

#[test]
fn a_multi_arch_index_keeps_both_platforms() {
    let registry = Registry::start().unwrap();
    let index = MultiArchImage::new(tiny("multi"), &["amd64", "arm64"])
        .push(&registry, "demo/multi:1")
        .unwrap();
    assert_eq!(registry.digest_of("demo/multi:1").unwrap(), index.digest);
    let raw: serde_json::Value =
        serde_json::from_str(&registry.inspect_raw("demo/multi:1").unwrap()).unwrap();
    assert_eq!(raw["mediaType"], "application/vnd.oci.image.index.v1+json");
    let platforms: Vec<_> = raw["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|manifest| {
            manifest["platform"]["architecture"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(platforms, ["amd64", "arm64"]);
    for manifest in raw["manifests"].as_array().unwrap() {
        let digest = manifest["digest"].as_str().unwrap();
        let (ok, text) = skopeo(&registry, &format!("demo/multi@{digest}"), None);
        assert!(ok, "the index's manifest {digest} was not pushed: {text}");
    }
}

#[test]
fn writes_a_docker_config_with_the_credentials() {
    let registry = Registry::start_with_basic_auth("carol", "pw").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = registry.write_docker_config(dir.path()).unwrap();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(config["auths"][registry.host()]["auth"], "Y2Fyb2w6cHc=");
}

#[test]
fn a_dropped_registry_stops_and_removes_its_storage() {
    let registry = Registry::start().unwrap();
    tiny("dropped").push(&registry, "demo/dropped:1").unwrap();
    let (host, storage) = (registry.host(), registry.storage_dir());
    assert!(storage.is_dir());
    drop(registry);
    assert!(!storage.exists());
    assert!(std::net::TcpStream::connect(host).is_err());
}

//! The probe binary, images built from it and the pinned helm.

use std::process::Command;

use chorale_testkit::{HELM_VERSION, Registry, ScratchImage, helm, probe_binary};

/// Whether an x86_64 ELF file asks for a dynamic loader (a `PT_INTERP` program header).
fn has_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    assert_eq!(&elf[..4], b"\x7fELF");
    let u16_at = |at: usize| usize::from(u16::from_le_bytes([elf[at], elf[at + 1]]));
    let offset = usize::try_from(u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap())).unwrap();
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).any(|index| {
        let at = offset + index * size;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == PT_INTERP
    })
}

#[test]
fn the_probe_binary_is_static_and_runs() {
    let probe = probe_binary().unwrap();
    assert_eq!(probe_binary().unwrap(), probe, "built once, then cached");
    assert!(
        !has_interpreter(&std::fs::read(&probe).unwrap()),
        "{} is not static",
        probe.display()
    );
    assert!(has_interpreter(&std::fs::read("/bin/sh").unwrap()));
    let version = Command::new(&probe).arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout),
        format!("chorale-probe {}\n", env!("CARGO_PKG_VERSION"))
    );
}

/// A JSON blob of the registry, fetched over plain HTTP.
fn blob(registry: &Registry, repository: &str, digest: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(registry.host()).unwrap();
    write!(
        stream,
        "GET /v2/{repository}/blobs/{digest} HTTP/1.0\r\nHost: {}\r\n\r\n",
        registry.host()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    serde_json::from_str(body).unwrap()
}

#[test]
fn a_probe_image_runs_in_a_container() {
    let registry = Registry::start().unwrap();
    let image = ScratchImage::with_probe()
        .unwrap()
        .env("CHORALE_COMPONENT", "probe-test")
        .push(&registry, "chorale/probe:test")
        .unwrap();
    let storage = tempfile::tempdir().unwrap();
    let output = Command::new("podman")
        .arg("--root")
        .arg(storage.path().join("root"))
        .arg("--runroot")
        .arg(storage.path().join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "run",
            "--rm",
            "--quiet",
            "--tls-verify=false",
        ])
        .args(["--network", "none", &image.pinned()])
        .args(["http", "--check", "http://127.0.0.1:1/", "--timeout", "0s"])
        .output()
        .expect("podman runs");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("FAIL GET http://127.0.0.1:1/ = 2xx: connecting to 127.0.0.1:1 failed"),
        "{printed}"
    );
    let manifest: serde_json::Value = serde_json::from_str(
        &registry
            .inspect_raw(&format!("chorale/probe@{}", image.digest))
            .unwrap(),
    )
    .unwrap();
    let config_digest = manifest["config"]["digest"].as_str().unwrap();
    let config = blob(&registry, "chorale/probe", config_digest);
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/chorale-probe"])
    );
    assert_eq!(config["config"]["User"], "65534:65534");
    assert_eq!(config["config"]["StopSignal"], "SIGKILL");
    assert_eq!(
        config["config"]["Env"],
        serde_json::json!(["CHORALE_COMPONENT=probe-test"])
    );
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");
}

#[test]
fn helm_is_the_pinned_version() {
    let helm = helm().unwrap();
    let version = Command::new(&helm)
        .args(["version", "--short"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with(&format!("v{HELM_VERSION}+")));
}

//! A test image built `FROM scratch` with busybox-static and its applets as symlinks, pushed
//! to a registry.

use std::path::Path;

use super::{Registry, require, run, run_ok};

/// The local name of the built image; built once per machine, pushed to each registry.
const LOCAL: &str = "localhost/kube-sim-test/busybox:1";

const APPLETS: &[&str] = &[
    "sh", "sleep", "httpd", "nc", "echo", "cat", "nslookup", "hostname", "mkdir", "ls", "grep",
    "head", "tail", "printf", "env", "true", "false", "wc", "test", "kill",
];

fn build() {
    if run("podman", &["image", "exists", LOCAL], &[])
        .status
        .success()
    {
        return;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("the end-to-end tests need busybox-static (/bin/busybox); install it with infra/dev/install");
    let dir = tempfile::tempdir().expect("a temp dir");
    let bin = dir.path().join("bin");
    std::fs::create_dir(&bin).expect("creating the image context");
    std::fs::copy(busybox, bin.join("busybox")).expect("copying busybox");
    for applet in APPLETS {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("linking an applet");
    }
    std::fs::write(
        dir.path().join("Containerfile"),
        "FROM scratch\nCOPY bin /bin\nCMD [\"/bin/sh\"]\n",
    )
    .expect("writing the Containerfile");
    let context = dir.path().to_string_lossy().into_owned();
    run_ok(
        "podman",
        &["build", "--quiet", "--tag", LOCAL, &context],
        &[],
    );
}

/// Builds (once) and pushes the busybox image to `registry`; returns its reference there.
pub fn busybox_image(registry: &Registry) -> String {
    push(registry, None)
}

/// Pushes the busybox image to a registry, with `user:password` when it wants them.
pub fn push(registry: &Registry, credentials: Option<&str>) -> String {
    require("podman");
    build();
    let reference = format!("{}/test/busybox:1", registry.host);
    let destination = format!("docker://{reference}");
    let mut args = vec!["push", "--quiet", "--tls-verify=false"];
    if let Some(credentials) = credentials {
        args.extend(["--creds", credentials]);
    }
    args.extend([LOCAL, destination.as_str()]);
    run_ok("podman", &args, &[]);
    reference
}

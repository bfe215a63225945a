//! The HTTPS git server fixture against the git CLI as an independent client.

use std::path::Path;
use std::process::{Command, Output};

use chorale_testkit::{GitDaemon, GitHttpsServer};

/// `git` with no user or system configuration, trusting only the server's CA, never prompting.
fn git(server: &GitHttpsServer, home: &Path) -> Command {
    let mut command = Command::new("git");
    command
        .env("HOME", home)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "")
        .env_remove("SSH_ASKPASS")
        .env("GIT_SSL_CAINFO", server.ca_pem_path());
    command
}

fn text(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr)
}

/// `https://x-access-token:PASSWORD@127.0.0.1:PORT/NAME.git`.
fn with_credentials(server: &GitHttpsServer, name: &str, password: &str) -> String {
    server.url(name).replacen(
        "https://",
        &format!("https://{}:{password}@", GitHttpsServer::USER),
        1,
    )
}

#[test]
fn clones_fetches_and_pushes_with_the_token() {
    let daemon = GitDaemon::start().unwrap();
    let server = GitHttpsServer::start(daemon.base_dir()).unwrap();
    assert_eq!(
        server.url("api"),
        format!("https://{}/api.git", server.host())
    );
    let repo = daemon.create_repo("api").unwrap();
    let commit = repo
        .write_file(
            "chart/Chart.yaml",
            "apiVersion: v2\nname: api\nversion: 0.1.0\n",
        )
        .unwrap()
        .commit("first")
        .unwrap();
    repo.tag("v0.1.0").unwrap();

    let work = tempfile::tempdir().unwrap();
    let clone = work.path().join("api");
    let url = with_credentials(&server, "api", server.token());
    let cloned = git(&server, work.path())
        .args(["clone", "--quiet", &url])
        .arg(&clone)
        .output()
        .unwrap();
    assert!(cloned.status.success(), "{}", text(&cloned));
    assert!(clone.join("chart/Chart.yaml").is_file());
    let head = git(&server, work.path())
        .arg("-C")
        .arg(&clone)
        .args(["rev-parse", "HEAD"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), commit);

    // A push goes through `git-receive-pack` behind the same token, and the daemon serves it.
    let pushed = git(&server, work.path())
        .arg("-C")
        .arg(&clone)
        .args(["push", "--quiet", "origin", "HEAD:refs/heads/feature"])
        .output()
        .unwrap();
    assert!(pushed.status.success(), "{}", text(&pushed));
    assert_eq!(repo.rev_parse("feature").unwrap(), commit);
}

#[test]
fn speaks_protocol_version_2_from_the_git_protocol_header() {
    let daemon = GitDaemon::start().unwrap();
    let server = GitHttpsServer::start(daemon.base_dir()).unwrap();
    let repo = daemon.create_repo("db").unwrap();
    let commit = repo.commit("empty").unwrap();
    let work = tempfile::tempdir().unwrap();
    for (version, server_says) in [("2", "version 2"), ("0", "# service=git-upload-pack")] {
        let listed = git(&server, work.path())
            .args(["-c", &format!("protocol.version={version}"), "ls-remote"])
            .arg(with_credentials(&server, "db", server.token()))
            .arg("main")
            .env("GIT_TRACE_PACKET", "1")
            .output()
            .unwrap();
        assert!(listed.status.success(), "{}", text(&listed));
        assert_eq!(
            String::from_utf8_lossy(&listed.stdout),
            format!("{commit}\trefs/heads/main\n")
        );
        let trace = String::from_utf8_lossy(&listed.stderr);
        assert!(
            trace
                .lines()
                .any(|line| line.contains("< ") && line.ends_with(server_says)),
            "protocol.version={version}: the server does not say `{server_says}`:\n{trace}"
        );
    }
}

#[test]
fn refuses_a_missing_or_wrong_token_and_an_untrusted_client() {
    let daemon = GitDaemon::start().unwrap();
    let server = GitHttpsServer::start(daemon.base_dir()).unwrap();
    daemon.create_repo("web").unwrap().commit("one").unwrap();
    let work = tempfile::tempdir().unwrap();

    let right = with_credentials(&server, "web", server.token());
    for (case, url, trusts_the_ca, expected) in [
        (
            "no token: git asks for one",
            server.url("web"),
            true,
            "could not read Username",
        ),
        (
            "a wrong token",
            with_credentials(&server, "web", "wrong"),
            true,
            "Authentication failed",
        ),
        (
            "a client without the CA",
            right.clone(),
            false,
            "certificate",
        ),
    ] {
        let mut command = git(&server, work.path());
        if !trusts_the_ca {
            command
                .env_remove("GIT_SSL_CAINFO")
                .env("SSL_CERT_FILE", "/dev/null");
        }
        let output = command.args(["ls-remote", &url]).output().unwrap();
        assert!(
            !output.status.success() && text(&output).contains(expected),
            "{case}: expected a failure saying `{expected}`: {}",
            text(&output)
        );
    }

    // The server keeps serving after refused clients.
    let ok = git(&server, work.path())
        .args(["ls-remote", &right])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", text(&ok));
}

#[test]
fn tokens_are_random_and_a_dropped_server_stops() {
    let daemon = GitDaemon::start().unwrap();
    let (a, b) = (
        GitHttpsServer::start(daemon.base_dir()).unwrap(),
        GitHttpsServer::start(daemon.base_dir()).unwrap(),
    );
    assert_ne!(a.token(), b.token());
    assert!(
        !format!("{a:?}").contains(a.token()),
        "Debug hides the token"
    );
    let (host, ca) = (a.host(), a.ca_pem_path().to_owned());
    drop(a);
    assert!(!ca.exists(), "the CA is removed with the server");
    assert!(std::net::TcpStream::connect(host).is_err());
}

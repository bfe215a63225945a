//! `chorale snapshot` on a git source served over `https://` behind a token, as forges serve
//! them: the token comes from the environment, the server's CA from `SSL_CERT_FILE`, and the
//! token is never printed nor stored.

use std::path::Path;
use std::process::{Command, Output};

use chorale_testkit::{GitDaemon, GitHttpsServer};
use serde_json::Value;

use crate::cli::{chorale, text};
use crate::support::write_chart;

/// A git daemon, the same repositories over HTTPS, and a folder for the manifest and state.
struct HttpsWorld {
    git: GitDaemon,
    https: GitHttpsServer,
    dir: tempfile::TempDir,
}

impl HttpsWorld {
    fn new() -> Self {
        let git = GitDaemon::start().expect("git daemon starts");
        let https = GitHttpsServer::start(git.base_dir()).expect("the git HTTPS server starts");
        Self {
            git,
            https,
            dir: tempfile::tempdir().expect("a temp dir"),
        }
    }

    fn state(&self) -> std::path::PathBuf {
        self.dir.path().join("state")
    }

    /// A product whose one component's chart comes from `https://…/NAME.git`.
    fn product(&self, name: &str) -> std::path::PathBuf {
        let path = self.dir.path().join("product.yaml");
        std::fs::write(
            &path,
            format!(
                r#"apiVersion: chorale.dev/v1alpha1
kind: Product
metadata: {{ name: demo }}
spec:
  versionLine: "1.0"
  components:
    - name: {name}
      source: {{ git: "{}", ref: main, chartPath: chart }}
"#,
                self.https.url(name)
            ),
        )
        .unwrap();
        path
    }

    /// `chorale snapshot -o json MANIFEST` trusting the server's CA, with the given token
    /// variables and no others.
    fn snapshot(&self, manifest: &Path, tokens: &[(String, &str)]) -> Output {
        self.snapshot_command(manifest, tokens).output().unwrap()
    }

    fn snapshot_command(&self, manifest: &Path, tokens: &[(String, &str)]) -> Command {
        let mut command = chorale(&self.state(), self.dir.path());
        for (key, _) in std::env::vars() {
            if key.starts_with("CHORALE_GIT_TOKEN") {
                command.env_remove(key);
            }
        }
        command
            .env("SSL_CERT_FILE", self.https.ca_pem_path())
            .envs(tokens.iter().map(|(key, value)| (key, value)))
            .args(["snapshot", "-o", "json"])
            .arg(manifest);
        command
    }

    /// `CHORALE_GIT_TOKEN_<HOST>` for the server.
    fn host_variable(&self) -> String {
        format!(
            "CHORALE_GIT_TOKEN_{}",
            chorale_runners::errors::env_host(&self.https.host())
        )
    }
}

/// Every file under `dir` (recursively) whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|window| window == needle.as_bytes())
            {
                found.push(path);
            }
        }
    }
    found
}

#[test]
fn snapshot_resolves_an_https_remote_with_a_token_from_the_environment() {
    let world = HttpsWorld::new();
    let repo = world.git.create_repo("secure").unwrap();
    write_chart(&repo, "chart", "secure", "0.1.0");
    let commit = repo.commit("add the chart").unwrap();
    let manifest = world.product("secure");
    let token = world.https.token().to_owned();
    let url = world.https.url("secure");

    let with_token = world.snapshot(&manifest, &[(world.host_variable(), &token)]);
    let (stdout, stderr) = text(&with_token);
    assert!(with_token.status.success(), "{stdout}\n{stderr}");
    let lock: Value = serde_json::from_slice(&with_token.stdout).unwrap();
    let source = &lock["spec"]["components"][0]["source"];
    assert_eq!(source["repository"], url.as_str());
    assert_eq!(source["commit"], commit.as_str());
    assert_eq!(lock["spec"]["components"][0]["chart"]["name"], "secure");

    // The host-less variable works too, and a new commit is fetched into the same mirror.
    write_chart(&repo, "chart", "secure", "0.2.0");
    let second = repo.commit("0.2.0").unwrap();
    let from_default = world.snapshot(&manifest, &[("CHORALE_GIT_TOKEN".to_owned(), &token)]);
    assert!(from_default.status.success(), "{:?}", text(&from_default));
    let lock: Value = serde_json::from_slice(&from_default.stdout).unwrap();
    assert_eq!(
        lock["spec"]["components"][0]["source"]["commit"],
        second.as_str()
    );

    // No token, a wrong token, or a wrong per-host token over a right default: an error that
    // names the remote and the variable to fix; a user's input, like a registry's 401.
    let without = world.snapshot(&manifest, &[]);
    let wrong = world.snapshot(&manifest, &[(world.host_variable(), "wrong-token")]);
    let host_wins = world.snapshot(
        &manifest,
        &[
            (world.host_variable(), "wrong-token"),
            ("CHORALE_GIT_TOKEN".to_owned(), &token),
        ],
    );
    let refused =
        format!("error: component `secure`: {url}: the remote refused access (HTTP 401); ");
    let rejected = format!("it rejected the token in {}\n", world.host_variable());
    for (output, expected) in [
        (
            &without,
            format!(
                "set a token that may read it in {} or CHORALE_GIT_TOKEN\n",
                world.host_variable()
            ),
        ),
        (&wrong, rejected.clone()),
        (&host_wins, rejected),
    ] {
        let (stdout, stderr) = text(output);
        assert_eq!(
            output.status.code(),
            Some(chorale::errors::exit::INVALID_INPUT),
            "{stdout}\n{stderr}"
        );
        assert_eq!(stderr, format!("{refused}{expected}"));
    }

    // A client that does not trust the server's CA refuses it: verification stays on.
    let empty = world.dir.path().join("no-authorities.pem");
    std::fs::write(&empty, "").unwrap();
    let untrusted = world
        .snapshot_command(&manifest, &[(world.host_variable(), &token)])
        .env("SSL_CERT_FILE", &empty)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&untrusted);
    assert_eq!(
        untrusted.status.code(),
        Some(chorale::errors::exit::INFRASTRUCTURE),
        "{stdout}\n{stderr}"
    );
    assert!(
        stderr.starts_with(&format!("error: component `secure`: cannot fetch {url}: "))
            && stderr.contains("certificate"),
        "{stderr}"
    );

    // The token is in no output and nowhere in the state folder (store, git mirrors and their
    // config).
    for output in [
        &with_token,
        &from_default,
        &without,
        &wrong,
        &host_wins,
        &untrusted,
    ] {
        let (stdout, stderr) = text(output);
        for secret in [token.as_str(), "wrong-token"] {
            assert!(!stdout.contains(secret) && !stderr.contains(secret));
        }
    }
    assert!(
        world.state().join("cache/git").is_dir(),
        "the mirrors live in the state folder"
    );
    for secret in [token.as_str(), "wrong-token"] {
        assert_eq!(
            files_containing(&world.state(), secret),
            Vec::<std::path::PathBuf>::new()
        );
    }
}

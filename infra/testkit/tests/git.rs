//! The git daemon fixture against the git CLI as an independent client.

use std::process::Command;

use chorale_testkit::GitDaemon;

fn git(args: &[&str]) -> String {
    let output = Command::new("git").args(args).output().expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn serves_branches_and_tags_over_git_file_and_plain_paths() {
    let daemon = GitDaemon::start().unwrap();
    let repo = daemon.create_repo("api").unwrap();
    assert_eq!(repo.url(), format!("git://{}/api.git", daemon.host()));
    assert_eq!(repo.url(), daemon.url("api"));

    let first = repo
        .write_file(
            "deploy/chart/Chart.yaml",
            "apiVersion: v2\nname: api\nversion: 0.1.0\n",
        )
        .unwrap()
        .commit("first")
        .unwrap();
    repo.branch("release-2").unwrap().tag("v0.1.0").unwrap();
    repo.annotated_tag("v0.1.0-annotated", "the first release")
        .unwrap();
    let second = repo
        .write_file("README.md", "# api\n")
        .unwrap()
        .commit("second")
        .unwrap();
    assert_ne!(first, second);
    assert_eq!(repo.rev_parse("release-2").unwrap(), first);
    assert_eq!(repo.rev_parse("v0.1.0-annotated").unwrap(), first);

    let refs = git(&["ls-remote", repo.url()]);
    for expected in [
        format!("{second}\trefs/heads/main"),
        format!("{first}\trefs/heads/release-2"),
        format!("{first}\trefs/tags/v0.1.0"),
        format!("{first}\trefs/tags/v0.1.0-annotated^{{}}"),
    ] {
        assert!(refs.contains(&expected), "{expected} missing from:\n{refs}");
    }
    assert_eq!(
        git(&["ls-remote", &repo.file_url(), "main"]),
        format!("{second}\trefs/heads/main\n")
    );
    let path = repo.path().to_str().unwrap();
    assert_eq!(
        git(&["ls-remote", path, "release-2"]),
        format!("{first}\trefs/heads/release-2\n")
    );

    let clone = tempfile::tempdir().unwrap();
    let target = clone.path().join("api");
    git(&[
        "clone",
        "--quiet",
        "--branch",
        "release-2",
        repo.url(),
        target.to_str().unwrap(),
    ]);
    assert!(target.join("deploy/chart/Chart.yaml").is_file());
    assert!(
        !target.join("README.md").exists(),
        "release-2 predates the README"
    );
}

#[test]
fn the_same_steps_give_the_same_commit_ids() {
    let steps = |daemon: &GitDaemon| {
        let repo = daemon.create_repo("db").unwrap();
        repo.write_file("chart/values.yaml", "replicas: 1\n")
            .unwrap();
        let one = repo.commit("one").unwrap();
        repo.write_file("chart/values.yaml", "replicas: 2\n")
            .unwrap();
        let two = repo.commit("two").unwrap();
        (one, two)
    };
    let (a, b) = (GitDaemon::start().unwrap(), GitDaemon::start().unwrap());
    assert_eq!(steps(&a), steps(&b));
}

#[test]
fn switching_branches_updates_the_work_tree() {
    let daemon = GitDaemon::start().unwrap();
    let repo = daemon.create_repo("web").unwrap();
    repo.write_file("a.txt", "a").unwrap().commit("a").unwrap();
    repo.branch("feature").unwrap().switch("feature").unwrap();
    let feature = repo.write_file("b.txt", "b").unwrap().commit("b").unwrap();
    repo.switch("main").unwrap();
    assert!(!repo.work_dir().join("b.txt").exists());
    repo.remove("a.txt").unwrap().commit("remove a").unwrap();
    assert_eq!(repo.rev_parse("feature").unwrap(), feature);
    let files = git(&[
        "--git-dir",
        repo.path().to_str().unwrap(),
        "ls-tree",
        "--name-only",
        "main",
    ]);
    assert_eq!(files, "");
}

#[test]
fn a_dropped_daemon_stops_and_removes_its_repositories() {
    let daemon = GitDaemon::start().unwrap();
    let repo = daemon.create_repo("gone").unwrap();
    repo.commit("empty").unwrap();
    let (url, base, port) = (repo.url().to_owned(), daemon.base_dir(), daemon.port());
    drop(repo);
    drop(daemon);
    assert!(!base.exists());
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no process of the daemon listens on its port any more"
    );
    let output = Command::new("git")
        .args(["ls-remote", &url])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

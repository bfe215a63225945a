//! Reading several folders of a remote in one go, from a real `git daemon`.

use std::fmt::Write as _;

use chorale_runners::GitError;
use chorale_runners::git::{DEFAULT_FETCHES, FolderAt, GitRunner};
use chorale_testkit::GitDaemon;

fn at(reference: &str, path: &str) -> FolderAt {
    FolderAt {
        reference: reference.to_owned(),
        path: path.to_owned(),
    }
}

#[tokio::test]
async fn fetch_folders_reads_each_folder_at_its_ref_or_says_why_not() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let repo = daemon.create_repo("charts").unwrap();
    repo.write_file("a/Chart.yaml", "name: a\n")
        .unwrap()
        .write_file("b/values.yaml", "replicas: 1\n")
        .unwrap()
        .write_file("b/templates/cm.yaml", "kind: ConfigMap\n")
        .unwrap();
    let commit = repo.commit("two folders").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = GitRunner::new(cache.path(), DEFAULT_FETCHES);

    let read = git
        .fetch_folders(
            repo.url(),
            vec![
                at("main", "a"),
                at("main", "b"),
                at("main", "missing"),
                at("no-such-branch", "a"),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(read.len(), 4, "one result per folder, in order");
    let (a_commit, a) = read[0].as_ref().unwrap();
    assert_eq!(a_commit, &commit);
    let paths = |folder: &chorale_runners::git::Folder| {
        folder
            .files
            .iter()
            .map(|f| f.path.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(a), ["Chart.yaml"]);
    assert_eq!(a.files[0].content, b"name: a\n");
    let (b_commit, b) = read[1].as_ref().unwrap();
    assert_eq!(b_commit, &commit);
    assert_eq!(paths(b), ["templates/cm.yaml", "values.yaml"]);
    assert!(
        matches!(&read[2], Err(GitError::PathNotFound { path, .. }) if path == "missing"),
        "{:?}",
        read[2]
    );
    assert!(
        matches!(&read[3], Err(GitError::RefNotFound { reference, .. }) if reference == "no-such-branch"),
        "{:?}",
        read[3]
    );

    // A remote that cannot be fetched fails as a whole.
    let gone = daemon.url("never-created");
    let error = git
        .fetch_folders(&gone, vec![at("main", "a")], None)
        .await
        .unwrap_err();
    assert!(matches!(error, GitError::Unreachable { .. }), "{error:?}");
}

/// `git` on the bare repository at `dir`, with `input` on its standard input; its output.
fn git_in(dir: &std::path::Path, args: &[&str], input: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new("git")
        .arg(format!("--git-dir={}", dir.display()))
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("git runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "git {args:?} failed");
    String::from_utf8(output.stdout).unwrap()
}

/// A remote with a `main` and a `release-1` branch, 3,000 tags on an old commit and a branch
/// `broken` whose commit names a tree the remote does not have (so the remote cannot send it).
fn remote_with_tags_and_a_broken_ref(daemon: &GitDaemon) -> chorale_testkit::GitRepo {
    let repo = daemon.create_repo("mono").unwrap();
    repo.write_file("charts/a/Chart.yaml", "name: a\n").unwrap();
    let first = repo.commit("a").unwrap();
    repo.branch("release-1").unwrap().switch("main").unwrap();
    repo.write_file("charts/b/Chart.yaml", "name: b\n").unwrap();
    repo.commit("b").unwrap();
    let mut tags = String::new();
    for i in 0..3000 {
        writeln!(tags, "create refs/tags/v1.{}.{} {first}", i / 100, i % 100).unwrap();
    }
    git_in(repo.path(), &["update-ref", "--stdin"], &tags);
    let broken = git_in(
        repo.path(),
        &[
            "hash-object",
            "-t",
            "commit",
            "-w",
            "--literally",
            "--stdin",
        ],
        &format!(
            "tree {}\nauthor A <a@b> 1700000000 +0000\ncommitter A <a@b> 1700000000 +0000\n\nbroken\n",
            "1".repeat(40)
        ),
    );
    git_in(
        repo.path(),
        &["update-ref", "refs/heads/broken", broken.trim()],
        "",
    );
    repo
}

/// The refs of the only mirror under `cache`.
fn mirror_refs(cache: &std::path::Path) -> Vec<String> {
    let mirror = std::fs::read_dir(cache)
        .unwrap()
        .next()
        .expect("one mirror")
        .unwrap()
        .path();
    git_in(&mirror, &["for-each-ref", "--format=%(refname)"], "")
        .lines()
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn only_the_refs_asked_are_fetched_and_a_broken_ref_fails_alone_by_name() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let repo = remote_with_tags_and_a_broken_ref(&daemon);
    let cache = tempfile::tempdir().unwrap();
    let git = GitRunner::new(cache.path(), DEFAULT_FETCHES);

    let read = git
        .fetch_folders(repo.url(), vec![at("main", "charts/b")], None)
        .await
        .expect("the remote is fetched");
    assert_eq!(read[0].as_ref().unwrap().0, repo.rev_parse("main").unwrap());
    assert_eq!(
        mirror_refs(cache.path()),
        ["refs/remotes/origin/main"],
        "neither the tags nor the broken branch are fetched"
    );

    // Asked together, the broken ref fails alone and is named; the others are read.
    let read = git
        .fetch_folders(
            repo.url(),
            vec![
                at("broken", "charts/a"),
                at("release-1", "charts/a"),
                at("v1.29.99", "charts/a"),
            ],
            None,
        )
        .await
        .expect("the remote is fetched");
    let error = read[0].as_ref().unwrap_err();
    assert!(
        matches!(error, GitError::RefFetch { reference, .. } if reference == "broken"),
        "{error:?}"
    );
    assert!(
        error.to_string().contains("cannot fetch `broken` from"),
        "{error}"
    );
    assert!(read[1].is_ok(), "{:?}", read[1]);
    assert!(read[2].is_ok(), "{:?}", read[2]);
    let refs = mirror_refs(cache.path());
    assert!(refs.contains(&"refs/tags/v1.29.99".to_owned()), "{refs:?}");
    assert_eq!(refs.len(), 3, "main, release-1 and one tag: {refs:?}");
}

#[tokio::test]
async fn a_misspelled_branch_is_answered_with_branches_then_the_closest_names_then_a_count() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let repo = remote_with_tags_and_a_broken_ref(&daemon);
    let cache = tempfile::tempdir().unwrap();
    let git = GitRunner::new(cache.path(), DEFAULT_FETCHES);

    let read = git
        .fetch_folders(
            repo.url(),
            vec![at("mian", "charts/a"), at("v1.2.3x", "charts/a")],
            None,
        )
        .await
        .expect("the remote is fetched");
    let message = read[0].as_ref().unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "ref `mian` not found in {}; branches: main, broken, release-1; closest tags: v1.0.0, v1.0.1, v1.0.2, v1.0.3, v1.0.4; and 2,995 more tags",
            repo.url()
        )
    );
    let message = read[1].as_ref().unwrap_err().to_string();
    assert!(
        message.contains("; closest tags: v1.2.3, "),
        "the closest tag first: {message}"
    );
}

#[tokio::test]
async fn a_commit_the_mirror_lacks_is_fetched_for_the_changelog() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let repo = remote_with_tags_and_a_broken_ref(&daemon);
    let old = repo.rev_parse("release-1").unwrap();
    let new = repo.rev_parse("main").unwrap();
    let cache = tempfile::tempdir().unwrap();
    let git = GitRunner::new(cache.path(), DEFAULT_FETCHES);

    // Neither commit is in the mirror: both are fetched (git daemon does not send commits by
    // id, so through the fallback), and the log by path is listed.
    let log = git
        .log(repo.url(), &old, &new, Some("charts/b"), 10)
        .await
        .unwrap();
    assert_eq!(log.commits.len(), 1);
    assert_eq!(log.commits[0].id, new);
    // A folder read at a commit id the mirror has needs no fetch.
    let read = git
        .fetch_folders(&daemon.url("mono"), vec![at(&old, "charts/a")], None)
        .await
        .unwrap();
    assert_eq!(read[0].as_ref().unwrap().0, old);
}

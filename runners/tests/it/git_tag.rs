//! A release's annotated tag pushed to a real `git daemon` (`git://`) and to a bare repository
//! on disk (`file://`), checked with the `git` CLI on the remote itself.

use std::net::TcpListener;
use std::path::Path;
use std::process::Command;

use chorale_runners::GitError;
use chorale_runners::git::{DEFAULT_FETCHES, GitRunner, TagPushed, Tagger};
use chorale_testkit::{GitDaemon, GitRepo};

const DIGEST: &str = "sha256:4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee0";

fn tagger() -> Tagger {
    Tagger {
        name: "Chorale Release".to_owned(),
        email: "release@chorale.dev".to_owned(),
    }
}

fn message(version: &str) -> String {
    format!("shop {version}\n\nbundle: {DIGEST}\nlock: lock-42\n")
}

/// `git ARGS` on the bare repository, with no user or system configuration; its stdout.
fn git(bare: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .arg(format!("--git-dir={}", bare.display()))
        .args(args)
        .output()
        .expect("running git");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The remote's tags, sorted.
fn tags(bare: &Path) -> Vec<String> {
    git(bare, &["tag", "--list"])
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A repository with two commits; the first is the one to tag.
fn product_config(daemon: &GitDaemon) -> (GitRepo, String, String) {
    let repo = daemon.create_repo("product-config").unwrap();
    repo.write_file("product.yaml", "name: shop\n").unwrap();
    let first = repo.commit("first").unwrap();
    repo.write_file("product.yaml", "name: shop\nversion: 2\n")
        .unwrap();
    let second = repo.commit("second").unwrap();
    (repo, first, second)
}

/// Creates the tag on the first commit, checks it with git, and checks that putting it again
/// (from the same mirror, and from a fresh cache as after a crash) writes nothing.
async fn creates_the_tag_once(url: impl Fn(&GitRepo) -> String) {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (repo, first, _) = product_config(&daemon);
    let url = url(&repo);
    let cache = tempfile::tempdir().unwrap();
    let runner = GitRunner::new(cache.path(), DEFAULT_FETCHES);

    let pushed = runner
        .push_annotated_tag(&url, &first, "v1.2.3", &message("1.2.3"), &tagger())
        .await
        .unwrap();
    assert_eq!(pushed, TagPushed::Created);

    let bare = repo.path();
    assert_eq!(git(bare, &["cat-file", "-t", "refs/tags/v1.2.3"]), "tag");
    assert_eq!(git(bare, &["rev-parse", "v1.2.3^{commit}"]), first);
    let object = git(bare, &["cat-file", "tag", "refs/tags/v1.2.3"]);
    assert!(
        object.contains("\ntag v1.2.3\n")
            && object.contains("\ntagger Chorale Release <release@chorale.dev> ")
            && object.contains(&format!("bundle: {DIGEST}\nlock: lock-42")),
        "{object}"
    );
    let tag_id = git(bare, &["rev-parse", "refs/tags/v1.2.3"]);

    let again = runner
        .push_annotated_tag(&url, &first, "v1.2.3", &message("1.2.3"), &tagger())
        .await
        .unwrap();
    assert_eq!(again, TagPushed::AlreadyThere);
    let fresh_cache = tempfile::tempdir().unwrap();
    let resumed = GitRunner::new(fresh_cache.path(), DEFAULT_FETCHES)
        .push_annotated_tag(&url, &first, "v1.2.3", &message("1.2.3"), &tagger())
        .await
        .unwrap();
    assert_eq!(resumed, TagPushed::AlreadyThere);
    assert_eq!(
        git(bare, &["rev-parse", "refs/tags/v1.2.3"]),
        tag_id,
        "the tag object is the first one"
    );
    assert_eq!(tags(bare), ["v1.2.3"]);
}

#[tokio::test]
async fn an_annotated_tag_is_created_once_over_git_daemon() {
    creates_the_tag_once(|repo| repo.url().to_owned()).await;
}

#[tokio::test]
async fn an_annotated_tag_is_created_once_in_a_bare_repository_on_disk() {
    creates_the_tag_once(GitRepo::file_url).await;
}

/// A tag already on another commit (annotated or lightweight) is an error that leaves it as it
/// is; a lightweight tag on the commit itself counts as there.
async fn a_tag_elsewhere_never_moves(url: impl Fn(&GitRepo) -> String) {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (repo, first, second) = product_config(&daemon);
    repo.annotated_tag("v2.0.0", "by hand").unwrap();
    repo.tag("v3.0.0").unwrap();
    let bare = repo.path();
    let before = [
        git(bare, &["rev-parse", "refs/tags/v2.0.0"]),
        git(bare, &["rev-parse", "refs/tags/v3.0.0"]),
    ];
    let url = url(&repo);
    let cache = tempfile::tempdir().unwrap();
    let runner = GitRunner::new(cache.path(), DEFAULT_FETCHES);

    for tag in ["v2.0.0", "v3.0.0"] {
        let error = runner
            .push_annotated_tag(&url, &first, tag, &message(tag), &tagger())
            .await
            .unwrap_err();
        match &error {
            GitError::TagElsewhere {
                tag: named,
                commit,
                found,
                ..
            } => {
                assert_eq!((named.as_str(), commit, found), (tag, &first, &second));
            }
            other => panic!("{tag}: expected TagElsewhere, got {other:?}"),
        }
        assert!(!error.is_transient(), "{error}");
        let text = error.to_string();
        assert!(
            text.contains(&first) && text.contains(&second) && text.contains("never moves"),
            "{text}"
        );
    }
    assert_eq!(
        [
            git(bare, &["rev-parse", "refs/tags/v2.0.0"]),
            git(bare, &["rev-parse", "refs/tags/v3.0.0"]),
        ],
        before,
        "the tags did not move"
    );

    let there = runner
        .push_annotated_tag(&url, &second, "v3.0.0", &message("3.0.0"), &tagger())
        .await
        .unwrap();
    assert_eq!(there, TagPushed::AlreadyThere);
    assert_eq!(git(bare, &["cat-file", "-t", "refs/tags/v3.0.0"]), "commit");
    assert_eq!(tags(bare), ["v2.0.0", "v3.0.0"]);
}

#[tokio::test]
async fn a_tag_on_another_commit_is_refused_over_git_daemon() {
    a_tag_elsewhere_never_moves(|repo| repo.url().to_owned()).await;
}

#[tokio::test]
async fn a_tag_on_another_commit_is_refused_in_a_bare_repository_on_disk() {
    a_tag_elsewhere_never_moves(GitRepo::file_url).await;
}

/// A commit the remote does not have is refused, and nothing is pushed.
async fn a_commit_not_in_the_remote_is_refused(url: impl Fn(&GitRepo) -> String) {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (repo, _, _) = product_config(&daemon);
    let elsewhere = daemon.create_repo("elsewhere").unwrap();
    elsewhere.write_file("other.yaml", "other: true\n").unwrap();
    let foreign = elsewhere.commit("not in product-config").unwrap();
    let url = url(&repo);
    let cache = tempfile::tempdir().unwrap();

    let error = GitRunner::new(cache.path(), DEFAULT_FETCHES)
        .push_annotated_tag(&url, &foreign, "v1.0.0", &message("1.0.0"), &tagger())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GitError::CommitNotInRemote { commit, url: named } if *commit == foreign && *named == url),
        "{error:?}"
    );
    assert!(!error.is_transient());
    assert!(error.to_string().contains("push it"), "{error}");
    assert!(tags(repo.path()).is_empty(), "nothing was pushed");
}

#[tokio::test]
async fn a_commit_not_in_the_remote_is_refused_over_git_daemon() {
    a_commit_not_in_the_remote_is_refused(|repo| repo.url().to_owned()).await;
}

#[tokio::test]
async fn a_commit_not_in_the_remote_is_refused_in_a_bare_repository_on_disk() {
    a_commit_not_in_the_remote_is_refused(GitRepo::file_url).await;
}

/// A URL on a loopback port nothing listens on.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("git://127.0.0.1:{port}/product-config.git")
}

#[tokio::test]
async fn an_unreachable_remote_is_a_transient_error() {
    let cache = tempfile::tempdir().unwrap();
    let error = GitRunner::new(cache.path(), DEFAULT_FETCHES)
        .push_annotated_tag(
            &closed_port_url(),
            &"a".repeat(40),
            "v1.0.0",
            &message("1.0.0"),
            &tagger(),
        )
        .await
        .unwrap_err();
    assert!(error.is_transient(), "{error:?}");
}

#[tokio::test]
async fn an_invalid_tag_name_is_refused_before_any_network() {
    let cache = tempfile::tempdir().unwrap();
    let runner = GitRunner::new(cache.path().join("mirrors"), DEFAULT_FETCHES);
    // An unreachable remote: reaching for it would be a different (transient) error.
    let url = closed_port_url();
    for tag in [
        "", "v1 2", "v1..2", "-v1", "v1.lock", "v1/", "v1~1", "v1^", "v1:2", "v*", "v1\\2",
    ] {
        let error = runner
            .push_annotated_tag(&url, &"a".repeat(40), tag, "m", &tagger())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, GitError::InvalidTagName { tag: named } if named == tag),
            "{tag:?}: {error:?}"
        );
        assert!(!error.is_transient());
    }
    assert!(!cache.path().join("mirrors").exists(), "no mirror was made");
}

/// Installs `script` as the remote's `pre-receive` hook.
fn pre_receive(repo: &GitRepo, script: &str) {
    let hook = repo.path().join("hooks").join("pre-receive");
    std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
    std::fs::write(&hook, format!("#!/bin/sh\n{script}\n")).unwrap();
    let mut permissions = std::fs::metadata(&hook).unwrap().permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut permissions, 0o755);
    std::fs::set_permissions(&hook, permissions).unwrap();
}

/// A hook that puts the lightweight tag `tag` on `commit` as a push arrives, as if someone
/// else had put it between this call's fetch and its push. Ref updates are forbidden in the
/// quarantine of pushed objects; the hook's own update needs none of them.
fn tag_meanwhile(repo: &GitRepo, tag: &str, commit: &str) {
    pre_receive(
        repo,
        &format!(
            "unset GIT_QUARANTINE_PATH GIT_OBJECT_DIRECTORY GIT_ALTERNATE_OBJECT_DIRECTORIES\nexec git update-ref refs/tags/{tag} {commit}"
        ),
    );
}

/// The remote refuses the update because the tag was put meanwhile; reading it again shows
/// the tag there on the commit (fine) or on another commit (the permanent error).
#[tokio::test]
async fn a_tag_put_meanwhile_is_read_again() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (repo, first, second) = product_config(&daemon);
    let cache = tempfile::tempdir().unwrap();
    let runner = GitRunner::new(cache.path(), DEFAULT_FETCHES);

    tag_meanwhile(&repo, "v4.0.0", &first);
    let pushed = runner
        .push_annotated_tag(repo.url(), &first, "v4.0.0", &message("4.0.0"), &tagger())
        .await
        .unwrap();
    assert_eq!(pushed, TagPushed::AlreadyThere);
    assert_eq!(
        git(repo.path(), &["cat-file", "-t", "refs/tags/v4.0.0"]),
        "commit",
        "the tag is the one put meanwhile"
    );

    tag_meanwhile(&repo, "v5.0.0", &second);
    let error = runner
        .push_annotated_tag(repo.url(), &first, "v5.0.0", &message("5.0.0"), &tagger())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GitError::TagElsewhere { found, .. } if *found == second),
        "{error:?}"
    );
    assert_eq!(git(repo.path(), &["rev-parse", "refs/tags/v5.0.0"]), second);
}

/// A remote that refuses the update (its hook declines it) is a permanent error naming the
/// reference, and no tag is left anywhere.
#[tokio::test]
async fn a_refused_update_is_a_permanent_error() {
    let daemon = GitDaemon::start().expect("git daemon starts");
    let (repo, first, _) = product_config(&daemon);
    pre_receive(&repo, "echo 'tags are frozen' >&2\nexit 1");
    let cache = tempfile::tempdir().unwrap();
    let runner = GitRunner::new(cache.path(), DEFAULT_FETCHES);

    let error = runner
        .push_annotated_tag(repo.url(), &first, "v6.0.0", &message("6.0.0"), &tagger())
        .await
        .unwrap_err();
    assert!(
        matches!(&error, GitError::PushRejected { reference, .. } if reference == "refs/tags/v6.0.0"),
        "{error:?}"
    );
    assert!(!error.is_transient(), "{error}");
    assert!(tags(repo.path()).is_empty(), "nothing was pushed");

    // The failed push left no tag in the mirror that a later call would take for the remote's.
    std::fs::remove_file(repo.path().join("hooks").join("pre-receive")).unwrap();
    let pushed = runner
        .push_annotated_tag(repo.url(), &first, "v6.0.0", &message("6.0.0"), &tagger())
        .await
        .unwrap();
    assert_eq!(pushed, TagPushed::Created);
    assert_eq!(git(repo.path(), &["rev-parse", "v6.0.0^{commit}"]), first);
}

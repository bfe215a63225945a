//! Reading several folders of a remote in one go, from a real `git daemon`.

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

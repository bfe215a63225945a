//! The reaper: which recorded clusters it tears down — past their TTL, or whose build is over
//! or gone — and which it leaves alone.

use std::path::Path;

use chorale::clusters::{reap, this_process};
use chorale::resources::build::{Build, Stage, Status};
use chorale::resources::cluster::{ClusterRecord, ClusterState};
use chorale_runners::cluster::{Cluster, ClusterHandle, ProviderKind};
use jiff::{SignedDuration, Timestamp};

use crate::support::builds::{Bench, finished_build};

/// A recorded `command` cluster of `build_id`, expiring `expires_in` from now, whose delete
/// command appends its name to `deleted`.
fn record(name: &str, build_id: &str, expires_in: SignedDuration, deleted: &Path) -> ClusterRecord {
    let now = Timestamp::now();
    ClusterRecord {
        cluster: Cluster {
            provider: ProviderKind::Command,
            name: name.to_owned(),
            kubeconfig: deleted.with_file_name("kubeconfig"),
            namespace: None,
            created_at: now,
            expires_at: now + expires_in,
            handle: ClusterHandle::Command {
                delete_command: format!("echo \"$CHORALE_CLUSTER_NAME\" >> {}", deleted.display()),
                dir: deleted.parent().unwrap().to_owned(),
                kubeconfig: deleted.with_file_name("kubeconfig"),
            },
        },
        build_id: Some(build_id.to_owned()),
        state: ClusterState::Active,
        torn_down_at: None,
        last_error: None,
    }
}

#[tokio::test]
async fn the_reaper_tears_down_expired_and_orphaned_clusters_and_leaves_live_ones() {
    let bench = Bench::new().await;
    let store = &bench.context.store;
    let deleted = bench.dir.path().join("deleted.txt");

    // A build still running in this (live) process, and one that is over.
    let mut running = Build::start("demo", "test", &Stage::RUN);
    running.owner = Some(this_process());
    store.save_build(&running).await.unwrap();
    let over = finished_build("20261123-021400-0001", "23", Status::Succeeded, None);
    store.save_build(&over).await.unwrap();

    let hour = SignedDuration::from_hours(1);
    for cluster in [
        record("expired", &running.id, -hour, &deleted),
        record("young", &running.id, hour, &deleted),
        record("finished", &over.id, hour, &deleted),
        record("orphan", "20261123-000000-dead", hour, &deleted),
    ] {
        store.save_cluster(&cluster).await.unwrap();
    }

    let reaped = reap(&bench.context).await.unwrap();
    assert!(reaped.interrupted.is_empty(), "{:?}", reaped.interrupted);
    assert!(reaped.failed.is_empty(), "{:?}", reaped.failed);
    let mut torn_down = reaped.torn_down.clone();
    torn_down.sort();
    assert_eq!(torn_down, ["expired", "finished", "orphan"]);
    let mut commands: Vec<String> = std::fs::read_to_string(&deleted)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    commands.sort();
    assert_eq!(commands, torn_down, "each delete command ran once");

    let states: Vec<(String, ClusterState)> = store
        .clusters(None)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.cluster.name, r.state))
        .filter(|(name, _)| name == "young" || name == "expired")
        .collect();
    assert!(
        states.contains(&("young".to_owned(), ClusterState::Active)),
        "{states:?}"
    );
    assert!(
        states.contains(&("expired".to_owned(), ClusterState::TornDown)),
        "{states:?}"
    );
    assert_eq!(
        store.build(&running.id).await.unwrap().unwrap().status,
        Status::Running,
        "a live build is not interrupted"
    );
}

//! The PostgreSQL fixture against psql.

use std::process::Command;

use chorale_testkit::Postgres;

#[test]
fn a_cluster_starts_answers_and_isolates_databases() {
    let postgres = Postgres::start().unwrap();
    assert_eq!(
        postgres.url(),
        format!("postgres://postgres@127.0.0.1:{}/postgres", postgres.port())
    );
    assert!(
        postgres
            .psql("SHOW server_version")
            .unwrap()
            .starts_with("15.")
    );

    let url = postgres.create_database("builds_test").unwrap();
    assert!(url.ends_with("/builds_test"));
    // An independent client reaches the new database through the URL.
    let output = Command::new("psql")
        .args(["--no-psqlrc", "--tuples-only", "--no-align", &url, "-c"])
        .arg("CREATE TABLE t (x int); INSERT INTO t VALUES (42); SELECT x FROM t")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(printed.lines().last(), Some("42"), "{printed}");
    let error = postgres
        .create_database("builds_test")
        .unwrap_err()
        .to_string();
    assert!(error.contains("already exists"), "{error}");
}

#[test]
fn a_dropped_cluster_stops_and_is_deleted() {
    let postgres = Postgres::start().unwrap();
    let (port, dir) = (postgres.port(), postgres.dir().to_owned());
    drop(postgres);
    assert!(!dir.exists());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn two_clusters_run_side_by_side() {
    let (a, b) = (Postgres::start().unwrap(), Postgres::start().unwrap());
    assert_ne!(a.port(), b.port());
    a.create_database("only_in_a").unwrap();
    let listed = b
        .psql("SELECT count(*) FROM pg_database WHERE datname = 'only_in_a'")
        .unwrap();
    assert_eq!(listed.trim(), "0");
}

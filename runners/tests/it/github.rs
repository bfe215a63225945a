//! GitHub releases against Stoplight Prism serving GitHub's own OpenAPI description (every
//! request validated), behind a recording fake that keeps the releases created and fails on
//! purpose: created once with its asset, then reused; a refusal is final; server errors and
//! hangs are retried.

use std::time::Duration;

use bytes::Bytes;
use chorale_runners::GithubError;
use chorale_runners::github::{Asset, GithubOptions, GithubRepo, NewRelease, ensure_release};
use chorale_testkit::github::{Fault, GithubFake, Prism};
use secrecy::SecretString;

const RELEASES: &str = "/repos/acme/demo/releases";
const BY_TAG: &str = "/repos/acme/demo/releases/tags/demo-1.4.0";
const TOKEN: &str = "ghp_n0tAr3alT0kenButS3cret";

fn prism() -> &'static Prism {
    let prism = Prism::shared().expect("Prism serving GitHub's OpenAPI description");
    eprintln!("Prism answered {:?} after it started", prism.started_in());
    prism
}

fn repo(fake: &GithubFake) -> GithubRepo {
    GithubRepo {
        api_url: fake.url().parse().unwrap(),
        owner: "acme".into(),
        name: "demo".into(),
    }
}

fn token() -> SecretString {
    SecretString::from(TOKEN)
}

fn release() -> NewRelease<'static> {
    NewRelease {
        tag: "demo-1.4.0",
        commit: "0123456789abcdef0123456789abcdef01234567",
        name: "demo 1.4.0",
        body: "## What changed\n- db 2.1.0",
        prerelease: false,
        asset: Some(Asset {
            name: "demo-1.4.0.lock.yaml",
            // The only media type GitHub's description declares for an upload.
            content_type: "application/octet-stream",
            data: Bytes::from_static(b"product: demo\nversion: 1.4.0\n"),
        }),
    }
}

fn options(timeout: Duration, attempts: u32) -> GithubOptions {
    GithubOptions { timeout, attempts }
}

#[tokio::test]
async fn a_release_is_created_with_its_asset_once_and_then_reused() {
    let prism = prism();
    let fake = GithubFake::start(prism).await;
    let options = options(Duration::from_secs(30), 3);

    let created = ensure_release(&repo(&fake), &token(), &release(), &options)
        .await
        .expect("the release is created");
    assert!(!created.reused, "{created:?}");
    assert_eq!(fake.assets(created.id), ["demo-1.4.0.lock.yaml"]);
    assert!(created.html_url.starts_with("https://"), "{created:?}");

    let again = ensure_release(&repo(&fake), &token(), &release(), &options)
        .await
        .expect("the release is reused");
    assert!(again.reused, "{again:?}");
    assert_eq!(again.id, created.id);

    let upload = format!("{RELEASES}/{}/assets", created.id);
    let seen: Vec<_> = fake
        .requests()
        .iter()
        .map(|request| {
            (
                request.method.clone(),
                request.path_and_query.clone(),
                request.status,
            )
        })
        .collect();
    let request =
        |method: &str, path: &str, status| (method.to_owned(), path.to_owned(), Some(status));
    assert_eq!(
        seen,
        [
            request("GET", BY_TAG, 404),
            request("POST", RELEASES, 201),
            request("POST", &format!("{upload}?name=demo-1.4.0.lock.yaml"), 201),
            request("GET", BY_TAG, 200),
        ],
        "created once, asset uploaded once, then found by its tag"
    );
    assert_eq!(
        prism.violations(),
        Vec::<String>::new(),
        "every request follows GitHub's description"
    );
}

#[tokio::test]
async fn a_refused_request_fails_at_once_naming_the_request() {
    let fake = GithubFake::start(prism()).await;
    fake.fail("POST", RELEASES, 1, Fault::Status(422));

    let error = ensure_release(
        &repo(&fake),
        &token(),
        &release(),
        &options(Duration::from_secs(30), 3),
    )
    .await
    .unwrap_err();

    assert!(!error.is_transient(), "{error}");
    let GithubError::Status {
        request, status, ..
    } = &error
    else {
        panic!("expected a refusal, got {error:?}");
    };
    assert_eq!(*status, 422);
    assert_eq!(
        request,
        &format!("POST {}{}", fake.url().trim_end_matches('/'), &RELEASES)
    );
    assert_eq!(fake.count("POST", RELEASES), 1, "not retried");
    assert!(
        error
            .to_string()
            .starts_with(&format!("POST {}", fake.url().trim_end_matches('/'))),
        "{error}"
    );
    assert!(!format!("{error} {error:?}").contains(TOKEN), "{error:?}");
}

#[tokio::test]
async fn server_errors_are_retried_until_the_release_is_published() {
    let fake = GithubFake::start(prism()).await;
    fake.fail("POST", RELEASES, 2, Fault::Status(500));

    let published = ensure_release(
        &repo(&fake),
        &token(),
        &release(),
        &options(Duration::from_secs(30), 3),
    )
    .await
    .expect("published on the third attempt");

    assert!(!published.reused, "created by this call: {published:?}");
    let answers: Vec<_> = fake
        .requests()
        .iter()
        .filter(|request| request.method == "POST" && request.path() == RELEASES)
        .map(|request| request.status)
        .collect();
    assert_eq!(answers, [Some(500), Some(500), Some(201)]);
    assert_eq!(fake.assets(published.id), ["demo-1.4.0.lock.yaml"]);
}

#[tokio::test]
async fn a_server_that_hangs_times_out_on_every_attempt() {
    let fake = GithubFake::start(prism()).await;
    fake.fail("GET", BY_TAG, 2, Fault::Hang);

    let error = ensure_release(
        &repo(&fake),
        &token(),
        &release(),
        &options(Duration::from_millis(500), 2),
    )
    .await
    .unwrap_err();

    assert!(error.is_transient(), "{error}");
    let GithubError::GaveUp { attempts, last } = &error else {
        panic!("expected giving up, got {error:?}");
    };
    assert_eq!(*attempts, 2);
    assert!(
        matches!(**last, GithubError::Timeout { ref request, .. } if request.ends_with(BY_TAG)),
        "{error:?}"
    );
    assert_eq!(fake.count("GET", BY_TAG), 2);
    assert_eq!(fake.count("POST", RELEASES), 0, "nothing created");
}

//! A real registry: blobs uploaded once, linked from another repository instead of uploaded
//! again, and refused without credentials where the registry wants them; digests read with a
//! conditional request when the digest a tag had is known.

use bytes::Bytes;
use chorale_runners::RegistryError;
use chorale_runners::digest::sha256;
use chorale_runners::registry::{RegistryClient, RegistryOptions, parse_reference};
use chorale_testkit::{Registry, ScratchImage};

#[tokio::test]
async fn a_blob_is_uploaded_once_and_linked_from_where_it_is() {
    let registry = Registry::start().expect("docker-registry starts");
    let client = RegistryClient::new(RegistryOptions::default());
    let repository = |name: &str| parse_reference(&format!("{}/{name}", registry.host())).unwrap();
    let data = Bytes::from_static(b"a chart archive, say");
    let digest = sha256(&data);
    let size = data.len() as u64;

    let charts = repository("it/charts/db");
    assert_eq!(
        client
            .put_blob(&charts, &digest, data.clone(), None)
            .await
            .unwrap(),
        size,
        "a new blob is uploaded"
    );
    assert_eq!(
        client
            .put_blob(&charts, &digest, data.clone(), None)
            .await
            .unwrap(),
        0,
        "a blob already there is not uploaded again"
    );

    let bundle = repository("it/demo");
    assert_eq!(
        client
            .put_blob(&bundle, &digest, data.clone(), Some(&charts))
            .await
            .unwrap(),
        0,
        "linked from the repository that holds it"
    );
    assert_eq!(client.pull_blob(&bundle, &digest).await.unwrap(), data);

    let elsewhere = repository("it/other");
    assert_eq!(
        client
            .put_blob(
                &elsewhere,
                &digest,
                data.clone(),
                Some(&repository("it/empty"))
            )
            .await
            .unwrap(),
        size,
        "uploaded when the repository named to link from does not hold it"
    );
    assert_eq!(client.pull_blob(&elsewhere, &digest).await.unwrap(), data);
}

#[tokio::test]
async fn a_registry_that_wants_credentials_refuses_a_blob_without_them() {
    let registry =
        Registry::start_with_basic_auth("ci", "hunter22").expect("docker-registry starts");
    let client = RegistryClient::new(RegistryOptions::default());
    let repository = parse_reference(&format!("{}/it/locked", registry.host())).unwrap();
    let data = Bytes::from_static(b"secret sauce");
    let error = client
        .put_blob(&repository, &sha256(&data), data, None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, RegistryError::Unauthorized { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_tag_that_has_not_moved_is_answered_not_modified() {
    let registry = Registry::start().expect("docker-registry starts");
    let client = RegistryClient::new(RegistryOptions::default());
    let first = ScratchImage::new()
        .label("build", "1")
        .push(&registry, "it/app:nightly")
        .unwrap();
    let tag = parse_reference(&format!("{}/it/app:nightly", registry.host())).unwrap();
    let manifest_requests = |since: usize| -> Vec<(String, u16)> {
        registry.served().unwrap()[since..]
            .iter()
            .filter(|r| r.uri.contains("/manifests/"))
            .map(|r| (r.method.clone(), r.status))
            .collect()
    };

    // Told the digest it had, the registry answers 304 and the digest stands.
    let before = registry.served().unwrap().len();
    let digest = client
        .resolve_digest_since(&tag, Some(&first.digest))
        .await
        .unwrap();
    assert_eq!(digest, first.digest);
    assert_eq!(manifest_requests(before), [("HEAD".to_owned(), 304)]);

    // Told a digest it never had, the registry answers as usual.
    let before = registry.served().unwrap().len();
    let stale = format!("sha256:{}", "0".repeat(64));
    let digest = client
        .resolve_digest_since(&tag, Some(&stale))
        .await
        .unwrap();
    assert_eq!(digest, first.digest);
    assert_eq!(manifest_requests(before), [("HEAD".to_owned(), 200)]);

    // The tag moves: the digest it had no longer matches, and the new one is read.
    let second = ScratchImage::new()
        .label("build", "2")
        .push(&registry, "it/app:nightly")
        .unwrap();
    assert_ne!(second.digest, first.digest);
    let before = registry.served().unwrap().len();
    let digest = client
        .resolve_digest_since(&tag, Some(&first.digest))
        .await
        .unwrap();
    assert_eq!(digest, second.digest, "a moved tag is seen");
    assert_eq!(manifest_requests(before), [("HEAD".to_owned(), 200)]);

    // A reference by digest is checked as it is, whatever digest is offered.
    let pinned = parse_reference(&format!("{}/it/app@{}", registry.host(), first.digest)).unwrap();
    assert_eq!(
        client
            .resolve_digest_since(&pinned, Some(&second.digest))
            .await
            .unwrap(),
        first.digest
    );

    // A tag that is gone is not found, whatever digest it had.
    let gone = parse_reference(&format!("{}/it/app:gone", registry.host())).unwrap();
    let error = client
        .resolve_digest_since(&gone, Some(&first.digest))
        .await
        .unwrap_err();
    assert!(matches!(error, RegistryError::NotFound { .. }), "{error}");
}

//! Storing blobs in a real registry: uploaded once, linked from another repository instead of
//! uploaded again, and refused without credentials where the registry wants them.

use bytes::Bytes;
use chorale_runners::RegistryError;
use chorale_runners::digest::sha256;
use chorale_runners::registry::{RegistryClient, RegistryOptions, parse_reference};
use chorale_testkit::Registry;

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

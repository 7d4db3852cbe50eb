//! The Azure fakes' HTTPS (`tests/support/azure_https.rs`): served with the
//! test certificate, trusted by a client that trusts the test CA and by no
//! other.

#[path = "support/azure_https.rs"]
mod azure_https;

#[test]
fn only_a_client_that_trusts_the_test_ca_gets_through() {
    let app = axum::Router::new().fallback(|| async { "fake" });
    let server = azure_https::Https::serve(app);
    assert!(server.url.starts_with("https://127.0.0.1:"));
    let ca =
        reqwest::Certificate::from_pem(&std::fs::read(azure_https::ca_pem()).unwrap()).unwrap();
    let trusting = reqwest::blocking::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let r = trusting
        .get(format!("{}/anything", server.url))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "fake");
    let plain = reqwest::blocking::Client::builder().build().unwrap();
    let err = plain.get(&server.url).send().unwrap_err();
    assert!(
        err.is_connect() || err.to_string().contains("certificate"),
        "{err:?}"
    );
}

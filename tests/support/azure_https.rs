//! HTTPS on loopback for the Azure fakes: Azure's clients speak TLS only
//! (`azure_identity` refuses an `http://` authority host), so the fake ARM,
//! Kudu and Entra ID token endpoints are served with the test certificate in
//! `tests/support/azure_tls/` (signed by `ca.pem`, which tests trust).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The test CA a client must trust to reach [`Https::url`].
pub fn ca_pem() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/azure_tls/ca.pem")
}

fn tls_config() -> rustls::ServerConfig {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/azure_tls");
    let pem = |f: &str| std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    let certs: Vec<rustls::pki_types::CertificateDer<'static>> =
        rustls::pki_types::pem::PemObject::pem_slice_iter(&pem("server.pem"))
            .collect::<Result<_, _>>()
            .expect("server.pem holds certificates");
    let key = <rustls::pki_types::PrivateKeyDer<'static> as rustls::pki_types::pem::PemObject>::from_pem_slice(
        &pem("server.key"),
    )
    .expect("server.key holds a private key");
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("TLS 1.2 and 1.3")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("the test certificate and key match")
}

/// An HTTPS server on `127.0.0.1` serving `app`, on its own thread and
/// runtime; dropping it stops the server.
pub struct Https {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Https {
    pub fn serve(app: axum::Router) -> Https {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        listener.set_nonblocking(true).expect("non-blocking");
        let url = format!("https://{}", listener.local_addr().expect("an address"));
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls_config()));
        let (tx, mut rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("azure-https".to_owned())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime");
                rt.block_on(async move {
                    let listener =
                        tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                    loop {
                        let (tcp, _) = tokio::select! {
                            accepted = listener.accept() => match accepted {
                                Ok(a) => a,
                                Err(_) => continue,
                            },
                            _ = &mut rx => return,
                        };
                        // As servers do: no Nagle delay on small writes (TLS
                        // handshake records, short answers).
                        let _ = tcp.set_nodelay(true);
                        let acceptor = acceptor.clone();
                        let app = app.clone();
                        tokio::spawn(async move {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return; // a client that did not trust us, or went away
                            };
                            let service = hyper_util::service::TowerToHyperService::new(app);
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                                .await;
                        });
                    }
                });
            })
            .expect("spawn the HTTPS thread");
        Https {
            url,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Https {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

//! Serving an axum [`Router`] on loopback, over TLS (rustls, aws-lc-rs) or plain HTTP,
//! HTTP/1.1 and HTTP/2. Handlers see the client's address through
//! `axum::extract::ConnectInfo<SocketAddr>` (firewall rules check it). Dropping the
//! [`Served`] handle stops accepting and shuts connections down gracefully.
//!
//! A handler (or middleware) that wants the connection dropped without any response (a
//! "dropped connection" fault) inserts [`DropConnection`] into the response extensions.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::ServiceExt;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Response extension: close the connection instead of sending this response.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// The error a service returns to make hyper drop the connection.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a lab fault knob")
    }
}
impl std::error::Error for Dropped {}

/// A running server. Dropping it stops the server (the listening socket closes at once,
/// open connections get a short grace period).
#[derive(Debug)]
pub struct Served {
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Served {
    /// Stops the server and waits until the accept loop and connections are done.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// `https://127.0.0.1:port` / `http://…` style base URL for this server.
    pub fn url(&self, scheme: &str) -> String {
        format!("{scheme}://{}", self.addr)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Serves `router` over TLS on `addr` (use port 0 for a free port).
pub async fn serve_tls(
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    addr: SocketAddr,
) -> io::Result<Served> {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    serve(router, addr, move |tcp| {
        let acceptor = acceptor.clone();
        async move { acceptor.accept(tcp).await }
    })
    .await
}

/// Serves `router` over plain HTTP on `addr` (use port 0 for a free port).
pub async fn serve_http(router: Router, addr: SocketAddr) -> io::Result<Served> {
    serve(router, addr, |tcp| async move { Ok(tcp) }).await
}

async fn serve<F, Fut, S>(router: Router, addr: SocketAddr, wrap: F) -> io::Result<Served>
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = io::Result<S>> + Send + 'static,
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let (stop, mut stopped) = watch::channel(false);
    let wrap = Arc::new(wrap);
    let task = tokio::spawn(async move {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let mut connections = tokio::task::JoinSet::new();
        loop {
            // Reap finished connection tasks so the set does not grow.
            while connections.try_join_next().is_some() {}
            let (tcp, peer) = tokio::select! {
                _ = stopped.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::debug!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                },
            };
            let _ = tcp.set_nodelay(true);
            let router = router.clone();
            let wrap = wrap.clone();
            let watcher = graceful.watcher();
            connections.spawn(async move {
                let io = match tokio::time::timeout(HANDSHAKE_TIMEOUT, wrap(tcp)).await {
                    Ok(Ok(io)) => io,
                    Ok(Err(e)) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake timed out");
                        return;
                    }
                };
                let service =
                    hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
                        req.extensions_mut().insert(ConnectInfo(peer));
                        let router = router.clone();
                        async move {
                            let resp = match router.oneshot(req).await {
                                Ok(resp) => resp,
                                Err(never) => match never {},
                            };
                            if resp.extensions().get::<DropConnection>().is_some() {
                                return Err(Dropped);
                            }
                            Ok::<_, Dropped>(resp)
                        }
                    });
                let builder = auto::Builder::new(TokioExecutor::new());
                let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
                if let Err(e) = watcher.watch(conn.into_owned()).await {
                    tracing::trace!(%peer, error = %e, "connection ended with error");
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(Duration::from_secs(2), graceful.shutdown()).await.is_err() {
            tracing::debug!("connections still open after 2 s grace period; closing them");
        }
        connections.shutdown().await;
    });
    Ok(Served { addr, stop, task: Some(task) })
}

/// Makes the compiler check that handlers' `Infallible` is what Router uses.
const _: fn() = || {
    fn assert_infallible<S: tower::Service<http::Request<Incoming>, Error = Infallible>>() {}
    assert_infallible::<Router>();
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::LabCa;
    use axum::routing::get;

    fn loopback() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[tokio::test]
    async fn http_passes_peer_address_and_stops_on_drop() {
        let router = Router::new().route(
            "/ip",
            get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.ip().to_string() }),
        );
        let served = serve_http(router, loopback()).await.unwrap();
        let addr = served.addr;
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /ip HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).await.unwrap();
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(out.ends_with("127.0.0.1"), "{out}");
        served.shutdown().await;
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "still listening");
    }

    #[tokio::test]
    async fn tls_serves_with_lab_ca_and_drop_connection_works() {
        let ca = LabCa::generate().unwrap();
        let router = Router::new().route("/ok", get(|| async { "ok" })).route(
            "/drop",
            get(|| async {
                let mut r = axum::response::Response::new(axum::body::Body::empty());
                r.extensions_mut().insert(DropConnection);
                r
            }),
        );
        let tls = ca.rustls_server_config(&["localhost"], &["127.0.0.1".parse().unwrap()]).unwrap();
        let served = serve_tls(router, tls, loopback()).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(ca.rustls_client_config());
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for (path, want_ok) in [("/ok", true), ("/drop", false)] {
            let tcp = tokio::net::TcpStream::connect(served.addr).await.unwrap();
            let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
            let mut tls = connector.connect(name, tcp).await.unwrap();
            let req =
                format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n");
            tls.write_all(req.as_bytes()).await.unwrap();
            let mut out = Vec::new();
            let _ = tls.read_to_end(&mut out).await;
            let out = String::from_utf8_lossy(&out);
            if want_ok {
                assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("ok"), "{out}");
            } else {
                assert!(out.is_empty(), "dropped connection still answered: {out}");
            }
        }
    }
}

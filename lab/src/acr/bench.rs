//! Benchmark of the ACR token service: registry token grants per second over real TLS
//! connections (HTTP/1.1 keep-alive, several connections in parallel), the kubelet
//! identity authenticating with the null GUID + an ACR refresh token, as containerd does.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use super::token::NULL_GUID;
use super::{FrontDoor, Lifetimes};
use crate::jwt::TokenSigner;
use crate::knobs::Knobs;
use crate::state::{State, StateOptions};
use crate::tls::LabCa;
use crate::world::World;

/// Connections used in parallel.
pub const BENCH_CONNECTIONS: usize = 8;

/// Grants `n` registry tokens (`GET /oauth2/token`, scope `repository:probe/hello:pull`)
/// through a fresh in-process front door over TLS and returns successful grants per
/// second. Failed grants are not counted (and logged), so a broken path shows as a low rate.
pub async fn bench_token_grants(n: usize) -> f64 {
    match run(n).await {
        Ok((_, rate)) => rate,
        Err(e) => {
            tracing::warn!(error = %e, "token grant bench failed");
            0.0
        }
    }
}

async fn run(n: usize) -> Result<(usize, f64), Box<dyn std::error::Error + Send + Sync>> {
    let ca = LabCa::generate()?;
    let world = World::default_world();
    let login_server = world.registry.login_server.clone();
    let kubelet = world.cluster.kubelet_identity.object_id.clone();
    let tenant = world.tenant_id.clone();
    let state = State::shared(world, StateOptions::default());
    let signer = Arc::new(TokenSigner::new(&ca, crate::lab::ACR_ISSUER)?);
    let rt = signer.refresh_token(&login_server, &kubelet, &tenant, 3600);
    // No registry behind it: only the token service is exercised.
    let unused_upstream = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 9);
    let fd = FrontDoor::new(state, signer, Lifetimes::default(), unused_upstream);
    let tls = ca.rustls_server_config(&[&login_server], &[IpAddr::V4(Ipv4Addr::LOCALHOST)])?;
    let served = crate::server::serve_tls(
        super::router(fd, &Knobs::new()),
        tls,
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
    )
    .await?;
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{NULL_GUID}:{rt}"))
    );
    let path = format!("/oauth2/token?service={login_server}&scope=repository:probe/hello:pull");
    let connector = tokio_rustls::TlsConnector::from(ca.rustls_client_config());
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..BENCH_CONNECTIONS {
        let share = n / BENCH_CONNECTIONS + usize::from(i < n % BENCH_CONNECTIONS);
        let (connector, auth, path, host) =
            (connector.clone(), auth.clone(), path.clone(), login_server.clone());
        let addr = served.addr;
        tasks.push(tokio::spawn(async move {
            let tcp = tokio::net::TcpStream::connect(addr).await?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())?;
            let tls = connector.connect(name, tcp).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(tls)).await?;
            tokio::spawn(conn);
            let mut ok = 0usize;
            for _ in 0..share {
                let req = http::Request::get(path.as_str())
                    .header(http::header::HOST, host.as_str())
                    .header(http::header::AUTHORIZATION, auth.as_str())
                    .body(Empty::<Bytes>::new())?;
                let resp = sender.send_request(req).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                if status == http::StatusCode::OK && body.starts_with(b"{\"access_token\"") {
                    ok += 1;
                }
            }
            Ok::<usize, Box<dyn std::error::Error + Send + Sync>>(ok)
        }));
    }
    let mut granted = 0usize;
    for t in tasks {
        granted += t.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    served.shutdown().await;
    if granted < n {
        tracing::warn!(granted, n, "some token grants failed");
    }
    Ok((granted, if secs > 0.0 { granted as f64 / secs } else { 0.0 }))
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn bench_grants_tokens() {
        // A correctness check of the bench path, not a timing assertion.
        let (granted, rate) = super::run(40).await.unwrap();
        assert_eq!(granted, 40, "every grant must succeed");
        assert!(rate > 0.0);
    }
}

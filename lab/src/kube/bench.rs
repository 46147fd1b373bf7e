//! Benchmark figures for the API emulator (issue 4, "Done when" third bullet): watch
//! latency (status write → watcher receipt over HTTPS), get/list requests per second over
//! one keep-alive HTTPS connection, memory with `n` pods, and the OpenAPI documents'
//! generation time, size and serving rate. Called by `make bench`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

use super::api::ApiOptions;
use super::kind::Kind;
use super::server::KubeApiServer;
use super::store::Store;
use crate::tls::LabCa;

/// Any failure while benchmarking (setup, transport, store).
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

/// A keep-alive HTTP/1.1 client over TLS to the emulator.
struct Conn {
    send: hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    token: String,
}

impl Conn {
    async fn open(
        addr: SocketAddr,
        tls: Arc<rustls::ClientConfig>,
        token: &str,
    ) -> Result<Conn, BenchError> {
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let mut cfg = (*tls).clone();
        cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = rustls::pki_types::ServerName::try_from("localhost")?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(name, tcp).await?;
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn { send, token: token.to_string() })
    }

    async fn request(&mut self, path: &str) -> Result<hyper::Response<Incoming>, BenchError> {
        self.send.ready().await?;
        let req = hyper::Request::get(path)
            .header("host", "localhost")
            .header("authorization", format!("Bearer {}", self.token))
            .header("accept", "application/json")
            .body(Empty::new())?;
        Ok(self.send.send_request(req).await?)
    }

    async fn get_body(&mut self, path: &str) -> Result<Bytes, BenchError> {
        let r = self.request(path).await?;
        if !r.status().is_success() {
            return Err(format!("GET {path}: {}", r.status()).into());
        }
        Ok(r.into_body().collect().await?.to_bytes())
    }
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

fn bench_pod(i: usize) -> Value {
    json!({
        "metadata": {"name": format!("bench-{i:05}"), "labels": {"app": "bench", "shard": (i % 10).to_string()}},
        "spec": {"nodeName": "aks-nodepool1-0", "containers": [{"name": "probe", "image": "acrchaoslab.azurecr.io/probe:v1"}]},
    })
}

/// Watch latency: `samples` status writes through the store, each timed until the HTTPS
/// watch stream delivers it. Returns `(p50_ms, p99_ms)`.
pub async fn bench_watch_latency(samples: usize) -> Result<(f64, f64), BenchError> {
    let ca = LabCa::generate()?;
    let store = Store::new();
    let srv = KubeApiServer::start(store.clone(), &ca, "127.0.0.1:0".parse()?, ApiOptions::new(""))
        .await?;
    let r = watch_latency(&srv, &ca, samples).await?;
    srv.shutdown().await;
    Ok(r)
}

async fn watch_latency(
    srv: &KubeApiServer,
    ca: &LabCa,
    samples: usize,
) -> Result<(f64, f64), BenchError> {
    let store = srv.store.clone();
    store.create(
        &Kind::Pod,
        Some("default"),
        json!({
            "metadata": {"name": "latency"},
            "spec": {"containers": [{"name": "c", "image": "img:v1"}]},
        }),
    )?;
    let mut conn = Conn::open(srv.addr, ca.rustls_client_config(), srv.token()).await?;
    let rv = store.resource_version();
    let resp = conn
        .request(&format!(
            "/api/v1/namespaces/default/pods?watch=1&fieldSelector=metadata.name%3Dlatency&resourceVersion={rv}"
        ))
        .await?;
    let mut body = resp.into_body();
    let mut buf: Vec<u8> = Vec::new();
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let start = Instant::now();
        store.update_status(
            &Kind::Pod,
            Some("default"),
            "latency",
            json!({"phase": "Pending", "message": format!("sample {i}")}),
        )?;
        loop {
            if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                buf.drain(..=pos);
                break;
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
                .await?
                .ok_or("watch stream ended")??;
            if let Ok(data) = frame.into_data() {
                buf.extend_from_slice(&data);
            }
        }
        lat.push(start.elapsed());
    }
    lat.sort();
    Ok((percentile(&lat, 0.50), percentile(&lat, 0.99)))
}

/// All figures for `n_pods` pods, as JSON (for `reports/bench.json`).
pub async fn bench(n_pods: usize) -> Result<Value, BenchError> {
    let ca = LabCa::generate()?;
    let rss_before = rss_bytes();
    let store = Store::new();
    let t = Instant::now();
    for i in 0..n_pods {
        store.create(&Kind::Pod, Some("default"), bench_pod(i))?;
    }
    let create_secs = t.elapsed().as_secs_f64();
    let rss_after = rss_bytes();
    let (items, _) = store.list(&Kind::Pod, None, None, None)?;
    let json_bytes: usize =
        items.iter().map(|o| serde_json::to_vec(o).map_or(0, |v| v.len())).sum();
    drop(items);

    let srv = KubeApiServer::start(store.clone(), &ca, "127.0.0.1:0".parse()?, ApiOptions::new(""))
        .await?;
    let mut conn = Conn::open(srv.addr, ca.rustls_client_config(), srv.token()).await?;
    let gets = 2000usize;
    let t = Instant::now();
    for i in 0..gets {
        let name = format!("bench-{:05}", i % n_pods.max(1));
        conn.get_body(&format!("/api/v1/namespaces/default/pods/{name}"))
            .await
            .or_else(|e| if n_pods == 0 { Ok(Bytes::new()) } else { Err(e) })?;
    }
    let get_rps = gets as f64 / t.elapsed().as_secs_f64();
    let lists = 20usize;
    let t = Instant::now();
    let mut list_bytes = 0;
    for _ in 0..lists {
        list_bytes = conn.get_body("/api/v1/namespaces/default/pods").await?.len();
    }
    let list_rps = lists as f64 / t.elapsed().as_secs_f64();
    let sel_t = Instant::now();
    for _ in 0..lists {
        conn.get_body("/api/v1/namespaces/default/pods?labelSelector=shard%3D3").await?;
    }
    let list_sel_rps = lists as f64 / sel_t.elapsed().as_secs_f64();
    // The first request builds the v3 documents (once per process); later ones are served
    // from memory.
    let docs = 20usize;
    let t = Instant::now();
    let mut doc_bytes = conn.get_body("/openapi/v3/api/v1").await?.len();
    let first_doc_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    for _ in 0..docs {
        doc_bytes = conn.get_body("/openapi/v3/api/v1").await?.len();
    }
    let doc_rps = docs as f64 / t.elapsed().as_secs_f64();
    let mut openapi = super::openapi::bench_generation();
    openapi["v3_first_request_ms"] = json!(first_doc_ms);
    openapi["v3_core_requests_per_sec"] = json!(doc_rps);
    openapi["v3_core_response_bytes"] = json!(doc_bytes);
    let (p50, p99) = watch_latency(&srv, &ca, 200).await?;
    srv.shutdown().await;
    Ok(json!({
        "kube_api": {
            "pods": n_pods,
            "create_per_sec_in_process": if create_secs > 0.0 { n_pods as f64 / create_secs } else { 0.0 },
            "get_requests_per_sec": get_rps,
            "list_requests_per_sec": list_rps,
            "list_response_bytes": list_bytes,
            "list_label_selector_requests_per_sec": list_sel_rps,
            "watch_latency_ms": {"p50": p50, "p99": p99, "samples": 200,
                                  "path": "Store::update_status -> HTTPS watch stream line"},
            "memory": {
                "rss_before_bytes": rss_before,
                "rss_after_pods_bytes": rss_after,
                "rss_delta_bytes": rss_after.saturating_sub(rss_before),
                "stored_json_bytes": json_bytes,
            },
            "openapi": openapi,
            "transport": "HTTP/1.1 keep-alive over TLS 1.3 (rustls, aws-lc-rs), one connection, sequential",
        }
    }))
}

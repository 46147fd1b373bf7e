//! Shared helpers for the kube API emulator tests: a TLS server on loopback and a
//! reqwest client that trusts the lab CA and presents the bearer token.
#![allow(dead_code, reason = "shared by several test modules, each using a part")]

use std::time::Duration;

use acr_chaos_lab::kube::{ApiOptions, KubeApiServer, SharedStore, Store};
use acr_chaos_lab::tls::LabCa;
use serde_json::Value;

pub struct Api {
    pub srv: KubeApiServer,
    pub client: reqwest::Client,
    pub ca: LabCa,
    pub dir: tempfile::TempDir,
}

impl Api {
    pub async fn start() -> Api {
        Self::start_with(Store::new(), Duration::from_millis(200)).await
    }

    pub async fn start_with(store: SharedStore, bookmark_interval: Duration) -> Api {
        let ca = LabCa::generate().expect("CA");
        let mut opts = ApiOptions::new("");
        opts.bookmark_interval = bookmark_interval;
        let srv = KubeApiServer::start(store, &ca, "127.0.0.1:0".parse().unwrap(), opts)
            .await
            .expect("start API server");
        let client = reqwest::Client::builder()
            .tls_backend_preconfigured((*ca.rustls_client_config()).clone())
            .build()
            .expect("client");
        let dir = tempfile::tempdir().expect("tempdir");
        Api { srv, client, ca, dir }
    }

    pub fn store(&self) -> &SharedStore {
        &self.srv.store
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.srv.url)
    }

    pub fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, self.url(path)).bearer_auth(self.srv.token())
    }

    pub async fn send(rb: reqwest::RequestBuilder) -> (u16, Value) {
        let r = rb.send().await.expect("request");
        let code = r.status().as_u16();
        let text = r.text().await.expect("body");
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (code, v)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        Self::send(self.req(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::send(self.req(reqwest::Method::POST, path).json(body)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::send(self.req(reqwest::Method::PUT, path).json(body)).await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        Self::send(
            self.req(reqwest::Method::PATCH, path)
                .header("content-type", content_type)
                .body(body.to_string()),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        Self::send(self.req(reqwest::Method::DELETE, path)).await
    }

    /// Start a watch; returns a line reader.
    pub async fn watch(&self, path: &str) -> WatchReader {
        let r = self.req(reqwest::Method::GET, path).send().await.expect("watch request");
        assert_eq!(r.status().as_u16(), 200, "watch {path}");
        WatchReader { resp: r, buf: Vec::new() }
    }
}

pub struct WatchReader {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl WatchReader {
    /// The next event, or `None` when the stream ends; panics after `timeout`.
    pub async fn next_within(&mut self, timeout: Duration) -> Option<Value> {
        tokio::time::timeout(timeout, self.next())
            .await
            .expect("timed out waiting for a watch event")
    }

    pub async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(i) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=i).collect();
                return Some(serde_json::from_slice(&line).expect("watch line is JSON"));
            }
            match self.resp.chunk().await.expect("watch chunk") {
                Some(c) => self.buf.extend_from_slice(&c),
                None => return None,
            }
        }
    }

    /// Next event that is not a BOOKMARK.
    pub async fn next_change(&mut self, timeout: Duration) -> Value {
        loop {
            let ev = self.next_within(timeout).await.expect("watch ended");
            if ev["type"] != "BOOKMARK" {
                return ev;
            }
        }
    }
}

pub fn pod(name: &str, image: &str) -> Value {
    serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "probe"}},
        "spec": {"containers": [{"name": "c", "image": image}]}
    })
}

//! The bench entry points run and report sane figures (no timing assertions: speed
//! targets live in `make bench`, not in tests).

#[tokio::test]
async fn bench_reports_figures() {
    let v = acr_chaos_lab::kube::bench::bench(50).await.expect("bench runs");
    let k = &v["kube_api"];
    assert_eq!(k["pods"], 50);
    for f in
        ["get_requests_per_sec", "list_requests_per_sec", "list_label_selector_requests_per_sec"]
    {
        assert!(k[f].as_f64().unwrap() > 0.0, "{f}: {v}");
    }
    let p50 = k["watch_latency_ms"]["p50"].as_f64().unwrap();
    let p99 = k["watch_latency_ms"]["p99"].as_f64().unwrap();
    assert!(p50 > 0.0 && p99 >= p50, "{v}");
    assert!(k["list_response_bytes"].as_u64().unwrap() > 50 * 300, "a list of 50 pods: {v}");
    assert!(k["memory"]["stored_json_bytes"].as_u64().unwrap() > 0);
    let o = &k["openapi"];
    let core = o["v3_bytes"]["api/v1"].as_u64().unwrap();
    assert_eq!(o["v3_core_response_bytes"].as_u64(), Some(core), "served = generated: {o}");
    assert!(o["v3_bytes"]["apis/apps/v1"].as_u64().unwrap() > 0, "{o}");
    assert!(o["v2_bytes"].as_u64().unwrap() > core, "v2 holds every group: {o}");
    assert!(o["v3_core_requests_per_sec"].as_f64().unwrap() > 0.0, "{o}");
    eprintln!("{}", serde_json::to_string_pretty(&v).unwrap());
}

#[tokio::test]
async fn watch_latency_entry_point() {
    let (p50, p99) = acr_chaos_lab::kube::bench::bench_watch_latency(20).await.unwrap();
    assert!(p50 > 0.0 && p99 >= p50);
}

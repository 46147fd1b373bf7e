//! Benchmark entry points for `acr-chaos-bench` (figures in reports/bench.json).

pub use crate::acr::bench_token_grants as acr_token_grants;
pub use crate::kube::bench::{bench as kube_api, bench_watch_latency as kube_watch_latency};

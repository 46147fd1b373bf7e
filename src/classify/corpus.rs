//! A realistic mixed corpus of image-pull messages, for timing [`super::classify`].

/// About 50 distinct messages as a cluster shows them: kubelet events (containerd 1.6
/// and >= 1.7 formats, with and without the gRPC prefix, aggregates), Docker Engine and
/// CRI-O texts, klog lines, `kubectl describe` / `kubectl get events` rows, and the
/// cause-less messages that surround failures (back-off, `Error: ErrImagePull`,
/// successes, crash loops). The bench harness repeats it to 10,000 messages.
pub fn bench_corpus() -> Vec<String> {
    const ACR: &str = "acrchaos.azurecr.io";
    const IMG: &str = "acrchaos.azurecr.io/probe/pause:3.10";
    let mut v: Vec<String> = Vec::with_capacity(64);
    let failed = |err: &str| format!("Failed to pull image \"{IMG}\": {err}");
    let pull =
        format!("failed to pull and unpack image \"{IMG}\": failed to resolve reference \"{IMG}\"");

    // containerd 1.6 (the lab's) and the AKS article's forms.
    v.push(failed(&format!("rpc error: code = Unknown desc = {pull}: failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized")));
    v.push(failed(&format!("[rpc error: code = Unknown desc = {pull}: failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized")));
    v.push(failed(&format!("[rpc error: code = NotFound desc = {pull}: {IMG}: not found")));
    v.push(failed(&format!("rpc error: code = Unknown desc = {pull}: failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden")));
    v.push(failed(&format!("rpc error: code = Unknown desc = {pull}: failed to do request: Head \"https://{ACR}/v2/probe/pause/manifests/3.10\": dial tcp 10.224.0.10:443: i/o timeout")));
    v.push(failed(&format!("[rpc error: code = NotFound desc = failed to pull and unpack image \"{IMG}\": no match for platform in manifest: not found, ]")));
    v.push(failed("pull QPS exceeded."));
    // The misleading wrong-tag aggregate (not-found + anonymous 401).
    v.push(failed(&format!("[rpc error: code = NotFound desc = {pull}: {IMG}: not found, rpc error: code = Unknown desc = {pull}: failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized]")));
    // containerd >= 1.7, kubelet >= 1.28 (Unknown prefix stripped).
    v.push(failed(&format!("{pull}: failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://{ACR}/oauth2/token?scope=repository%3Aprobe%2Fpause%3Apull&service={ACR}: 401 Unauthorized")));
    v.push(failed(&format!("{pull}: failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://{ACR}/oauth2/token: 401 Unauthorized")));
    v.push(failed(&format!("{pull}: unexpected status from HEAD request to https://{ACR}/v2/probe/pause/manifests/3.10: 403 Forbidden")));
    v.push(failed(&format!("{pull}: failed to do request: Head \"https://{ACR}/v2/probe/pause/manifests/3.10\": dial tcp: lookup {ACR} on 168.63.129.16:53: no such host")));
    v.push(failed(&format!("{pull}: failed to do request: Head \"https://{ACR}/v2/probe/pause/manifests/3.10\": tls: failed to verify certificate: x509: certificate signed by unknown authority")));
    v.push(failed(&format!("{pull}: failed to do request: Head \"https://{ACR}/v2/probe/pause/manifests/3.10\": dial tcp 20.62.128.5:443: connect: connection refused")));
    v.push(failed(&format!("failed to pull and unpack image \"{IMG}\": failed to copy: httpReadSeeker: failed open: unexpected status code https://{ACR}/v2/probe/pause/blobs/sha256:8ffd1f6f1c3e: 429 Too Many Requests - Server message: toomanyrequests: Too many requests. Please visit https://aka.ms/acr/skus#sku-feature-matrix to view limits of all service tiers.")));
    v.push(failed(&format!("{pull}: unexpected status from HEAD request to https://{ACR}/v2/probe/pause/manifests/3.10: 503 Service Unavailable")));
    v.push(failed("rpc error: code = Unknown desc = failed to pull and unpack image \"docker.io/acrchaos/private:1.0\": failed to resolve reference \"docker.io/acrchaos/private:1.0\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed"));
    v.push(failed(&format!(
        "{pull}: pulling from host {ACR} failed with status code [manifests 3.10]: 401 Unauthorized"
    )));
    // Very old kubelets and Docker Engine nodes.
    v.push(failed(&format!("rpc error: code = 2 desc = Error response from daemon: Get https://{ACR}/v2/probe/pause/manifests/3.10: unauthorized: authentication required")));
    v.push(failed("rpc error: code = Unknown desc = Error response from daemon: manifest for acrchaos.azurecr.io/probe/pause:9.9 not found: manifest unknown: manifest unknown"));
    v.push(failed("rpc error: code = Unknown desc = Error response from daemon: pull access denied for acrchaos/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"));
    v.push(failed(&format!("rpc error: code = Unknown desc = Error response from daemon: Get \"https://{ACR}/v2/\": denied: client with IP '20.1.2.3' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.")));
    v.push(failed(&format!("rpc error: code = Unknown desc = Error response from daemon: Get https://{ACR}/v2/probe/pause/manifests/3.10: no basic auth credentials")));
    v.push(failed("rpc error: code = Unknown desc = Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit"));
    v.push(failed(&format!("rpc error: code = Unknown desc = Error response from daemon: Get \"https://{ACR}/v2/\": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)")));
    // CRI-O.
    v.push(failed("rpc error: code = Unknown desc = reading manifest v9 in docker.io/library/nginx: manifest unknown"));
    v.push(failed(&format!("initializing source docker://{IMG}: reading manifest 3.10 in {ACR}/probe/pause: unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information.")));
    v.push(failed(&format!("initializing source docker://{IMG}: pinging container registry {ACR}: Get \"https://{ACR}/v2/\": dial tcp 20.62.128.5:443: i/o timeout")));
    v.push(failed("rpc error: code = Unknown desc = reading manifest latest in docker.io/acrchaos/private: requested access to the resource is denied"));
    v.push(failed("rpc error: code = Unknown desc = choosing an image from manifest list docker://docker.io/library/busybox:1.36: no image found in manifest list for architecture arm64, variant \"v8\", OS linux"));
    v.push(failed(&format!("initializing source docker://{IMG}: pinging container registry {ACR}: Get \"https://{ACR}/v2/\": http: server gave HTTP response to HTTPS client")));
    v.push(failed("rpc error: code = Unknown desc = Requesting bearer token: invalid status code from registry 403 (Forbidden)"));
    // kubelet klog lines.
    v.push(format!("E1124 10:00:00.000000    1234 log.go:32] \"Failed to pull image\" err=\"rpc error: code = NotFound desc = failed to pull and unpack image \\\"{IMG}\\\": failed to resolve reference \\\"{IMG}\\\": {IMG}: not found\" image=\"{IMG}\""));
    v.push(format!("E1124 10:00:01.123456    1234 kuberuntime_manager.go:1256] \"Unhandled Error\" err=\"container &Container{{Name:probe,Image:{IMG},}} start failed in pod probe-detach_acr-chaos-run1(0b6c): ErrImagePull: failed to pull and unpack image \\\"{IMG}\\\": failed to resolve reference \\\"{IMG}\\\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized\" logger=\"UnhandledError\""));
    v.push(format!("E1124 10:00:02.000000    1234 pod_workers.go:1301] \"Error syncing pod, skipping\" err=\"failed to \\\"StartContainer\\\" for \\\"probe\\\" with ImagePullBackOff: \\\"Back-off pulling image \\\\\\\"{IMG}\\\\\\\"\\\"\" pod=\"acr-chaos-run1/probe\""));
    v.push("W1124 10:00:03.000000    1234 kubelet_pods.go:1000] \"Unable to retrieve pull secret, the image pull may not succeed.\" pod=\"acr-chaos-run1/probe\" secret=\"\" err=\"secret \\\"acr-pull\\\" not found\"".to_owned());
    v.push(format!("E1124 10:00:04.000000    1234 plugin.go:180] \"Failed getting credential from external registry credential provider\" err=\"error execing credential provider plugin acr-credential-provider for image {IMG}: exit status 1\""));
    // kubectl describe pod rows.
    v.push(format!("  Warning  Failed     3s (x2 over 20s)  kubelet            Failed to pull image \"{IMG}\": rpc error: code = Unknown desc = {pull}: failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"));
    v.push(format!("  Normal   BackOff    1s (x3 over 30s)  kubelet            Back-off pulling image \"{IMG}\""));
    v.push(
        "  Warning  Failed     1s (x3 over 30s)  kubelet            Error: ImagePullBackOff"
            .to_owned(),
    );
    v.push("  Warning  FailedToRetrieveImagePullSecret  5s (x4 over 40s)  kubelet  Unable to retrieve some image pull secrets (acr-pull); attempting to pull the image may not succeed.".to_owned());
    v.push("  Warning  InspectFailed  2s  kubelet  Failed to apply default image tag \"AcrChaos.azurecr.io/Probe\": couldn't parse image name \"AcrChaos.azurecr.io/Probe\": invalid reference format: repository name (Probe) must be lowercase".to_owned());
    v.push(format!("  Normal   Pulled     2s    kubelet            Successfully pulled image \"{IMG}\" in 1.204s (1.204s including waiting). Image size: 320368 bytes."));
    // kubectl get events rows.
    v.push(format!("12s         Warning   Failed              pod/probe-firewall   Failed to pull image \"{IMG}\": rpc error: code = Unknown desc = {pull}: failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden"));
    v.push(
        "12s         Warning   Failed              pod/probe-firewall   Error: ErrImagePull"
            .to_owned(),
    );
    v.push(format!(
        "10s         Normal    Pulling             pod/probe-firewall   Pulling image \"{IMG}\""
    ));
    v.push("45s         Warning   BackOff             pod/api-7d9f8        Back-off restarting failed container api in pod api-7d9f8_default(1c2d)".to_owned());
    v.push(
        "45s         Normal    Started             pod/api-7d9f8        Started container api"
            .to_owned(),
    );
    v.push("30s         Warning   Unhealthy           pod/api-7d9f8        Liveness probe failed: Get \"http://10.244.1.7:8080/healthz\": dial tcp 10.244.1.7:8080: connect: connection refused".to_owned());
    // Negatives and plain lines.
    v.push("Error: ErrImagePull".to_owned());
    v.push(format!("Back-off pulling image \"{IMG}\""));
    v.push(String::new());
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn corpus_is_distinct_and_mixed() {
        let c = super::bench_corpus();
        assert!(c.len() >= 45, "{}", c.len());
        let distinct: std::collections::BTreeSet<_> = c.iter().collect();
        assert_eq!(distinct.len(), c.len());
        let with = c.iter().filter(|m| !super::super::classify(m).is_empty()).count();
        assert!(with >= 30 && with < c.len() - 8, "{with} of {} have causes", c.len());
    }
}

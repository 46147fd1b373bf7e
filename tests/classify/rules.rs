//! Table tests for the cause classifier: every example of signatures.md §4 (verbatim and
//! with realistic values), and the source-level formats of §1 (containerd 1.6 / >= 1.7
//! status texts, with and without the gRPC prefix, kubelet aggregates, Docker Engine,
//! CRI-O, klog lines, `kubectl describe` and `kubectl get events` rows, negatives).

use acr_chaos::classify::{Cause, classify, explain_message};
use rstest::rstest;

const IMG: &str = "acrchaos.azurecr.io/probe/pause:3.10";

fn ids(message: &str) -> Vec<&'static str> {
    classify(message).into_iter().map(Cause::id).collect()
}

/// `Failed to pull image "<IMG>": <err>` with `{img}` in `err` replaced by [`IMG`].
fn failed(err: &str) -> String {
    format!("Failed to pull image \"{IMG}\": {}", err.replace("{img}", IMG))
}

// ---------------------------------------------------------------- signatures.md §4
#[rstest]
#[case::oauth_401(
    r#"Failed to pull image "<acrname>.azurecr.io/<repository:tag>": [rpc error: code = Unknown desc = failed to pull and unpack image "<acrname>.azurecr.io/<repository:tag>": failed to resolve reference "<acrname>.azurecr.io/<repository:tag>": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"#,
    &["unauthorized-credentials"]
)]
#[case::not_found(
    r#"Failed to pull image "<acrname>.azurecr.io/<repository:tag>": [rpc error: code = NotFound desc = failed to pull and unpack image "<acrname>.azurecr.io/<repository:tag>": failed to resolve reference "<acrname>.azurecr.io/<repository:tag>": <acrname>.azurecr.io/<repository:tag>: not found"#,
    &["not-found"]
)]
#[case::anonymous_403(
    r#"Failed to pull image "<acrname>.azurecr.io/<repository:tag>": rpc error: code = Unknown desc = failed to pull and unpack image "<acrname>.azurecr.io/<repository:tag>": failed to resolve reference "<acrname>.azurecr.io/<repository:tag>": failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden"#,
    &["forbidden-network"]
)]
#[case::io_timeout(
    r#"Failed to pull image "<acrname>.azurecr.io/<repository:tag>": rpc error: code = Unknown desc = failed to pull and unpack image "<acrname>.azurecr.io/<repository:tag>": failed to resolve reference "<acrname>.azurecr.io/<repository:tag>": failed to do request: Head "https://<acrname>.azurecr.io/v2/<repository>/manifests/v1": dial tcp <acrprivateipaddress>:443: i/o timeout"#,
    &["network-unreachable"]
)]
#[case::platform(
    r#"Failed to pull image "<acrname>.azurecr.io/<repository:tag>": [rpc error: code = NotFound desc = failed to pull and unpack image "<acrname>.azurecr.io/<repository:tag>": no match for platform in manifest: not found, ]"#,
    &["platform-mismatch"]
)]
#[case::qps(
    r#"Failed to pull image "acrname.azurecr.io/repo/nginx:latest": pull QPS exceeded."#,
    &["rate-limited"]
)]
fn signatures_examples_verbatim(#[case] message: &str, #[case] expected: &[&str]) {
    assert_eq!(ids(message), expected, "{message}");
}

#[rstest]
#[case::oauth_401("[rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized", &["unauthorized-credentials"])]
#[case::not_found("[rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": {img}: not found", &["not-found"])]
#[case::anonymous_403("rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden", &["forbidden-network"])]
#[case::io_timeout("rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/v1\": dial tcp 10.224.0.10:443: i/o timeout", &["network-unreachable"])]
#[case::platform("[rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": no match for platform in manifest: not found, ]", &["platform-mismatch"])]
#[case::qps("pull QPS exceeded.", &["rate-limited"])]
fn signatures_examples_with_values(#[case] err: &str, #[case] expected: &[&str]) {
    let message = failed(err);
    assert_eq!(ids(&message), expected, "{message}");
}

// ------------------------------------------------ kubelet aggregates (order and split)
const NF: &str = "rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": {img}: not found";
const ANON: &str = "rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized";
const OAUTH: &str = "rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized";

#[rstest]
#[case::wrong_tag_misleading_401(&[NF, ANON], &["not-found", "unauthorized-anonymous"])]
#[case::order_of_first_appearance(&[ANON, NF], &["unauthorized-anonymous", "not-found"])]
#[case::secret_then_anonymous(&[OAUTH, ANON], &["unauthorized-credentials", "unauthorized-anonymous"])]
#[case::deduplicated(&[ANON, ANON], &["unauthorized-anonymous"])]
#[case::trailing_empty_element(&[NF, ""], &["not-found"])]
#[case::ipv6_and_nested_brackets(
    &["rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": dial tcp [fd00::10]:443: i/o timeout",
      "failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": pulling from host acrchaos.azurecr.io failed with status code [manifests 3.10]: 401 Unauthorized",
      NF],
    &["network-unreachable", "unauthorized", "not-found"]
)]
#[case::stripped_unknown_prefix_kubelet_1_28(
    &["failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://acrchaos.azurecr.io/oauth2/token: 401 Unauthorized",
      "failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://acrchaos.azurecr.io/oauth2/token?scope=repository%3Aprobe%2Fpause%3Apull&service=acrchaos.azurecr.io: 401 Unauthorized"],
    &["unauthorized-credentials", "unauthorized-anonymous"]
)]
#[case::platform_replaces_not_found_per_part(
    &["rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": no match for platform in manifest: not found", NF],
    &["platform-mismatch", "not-found"]
)]
fn kubelet_aggregates(#[case] elements: &[&str], #[case] expected: &[&str]) {
    let message = failed(&format!("[{}]", elements.join(", ")));
    assert_eq!(ids(&message), expected, "{message}");
    // The kubelet >= 1.32 waiting message carries the same aggregate.
    let waiting = format!(
        "Back-off pulling image \"{IMG}\": ErrImagePull: [{}]",
        elements.join(", ").replace("{img}", IMG)
    );
    assert_eq!(ids(&waiting), expected, "{waiting}");
}

// --------------------------------------------------------- containerd status formats
#[rstest]
#[case::v16_anonymous_401_rpc("rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized", &["unauthorized-anonymous"])]
#[case::v16_anonymous_401_no_rpc("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized", &["unauthorized-anonymous"])]
#[case::v16_oauth_401_no_rpc("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized", &["unauthorized-credentials"])]
#[case::v16_code_2("rpc error: code = 2 desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized", &["unauthorized-anonymous"])]
#[case::v17_anonymous_401("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://acrchaos.azurecr.io/oauth2/token?scope=repository%3Aprobe%2Fpause%3Apull&service=acrchaos.azurecr.io: 401 Unauthorized", &["unauthorized-anonymous"])]
#[case::v17_oauth_401("rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to authorize: failed to fetch oauth token: unexpected status from POST request to https://acrchaos.azurecr.io/oauth2/token: 401 Unauthorized", &["unauthorized-credentials"])]
#[case::v17_head_403("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": unexpected status from HEAD request to https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10: 403 Forbidden", &["forbidden-network"])]
#[case::v17_head_401_no_token_context("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": unexpected status from HEAD request to https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10: 401 Unauthorized", &["unauthorized"])]
#[case::v2_status_code_brackets("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": pulling from host acrchaos.azurecr.io failed with status code [manifests 3.10]: 401 Unauthorized", &["unauthorized"])]
#[case::v17_5xx("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": unexpected status from HEAD request to https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10: 503 Service Unavailable", &["registry-error"])]
#[case::v16_500("rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": unexpected status: 500 Internal Server Error", &["registry-error"])]
#[case::v16_502("rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": unexpected status: 502 Bad Gateway", &["registry-error"])]
#[case::blob_429("rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to copy: httpReadSeeker: failed open: unexpected status code https://acrchaos.azurecr.io/v2/probe/pause/blobs/sha256:8ffd1f6f: 429 Too Many Requests - Server message: toomanyrequests: Too many requests. Please visit https://aka.ms/acr/skus#sku-feature-matrix to view limits of all service tiers.", &["rate-limited"])]
#[case::blob_429_older_spelling("failed to pull and unpack image \"{img}\": failed to copy: httpReaderSeeker: failed open: unexpected status code https://acrchaos.azurecr.io/v2/probe/pause/blobs/sha256:8ffd1f6f: 429 Too Many Requests", &["rate-limited"])]
#[case::blob_404("failed to pull and unpack image \"{img}\": failed to copy: httpReadSeeker: failed open: unexpected status code https://acrchaos.azurecr.io/v2/probe/pause/blobs/sha256:8ffd1f6f: 404 Not Found", &["not-found"])]
#[case::old_grpc_code_5("rpc error: code = 5 desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": {img}: not found", &["not-found"])]
#[case::insufficient_scope("rpc error: code = Unknown desc = failed to pull and unpack image \"docker.io/acrchaos/private:1.0\": failed to resolve reference \"docker.io/acrchaos/private:1.0\": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed", &["access-denied"])]
#[case::denied_basic_challenge("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials", &["access-denied", "unauthorized-anonymous"])]
#[case::dns_no_such_host("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": dial tcp: lookup acrchaos.azurecr.io on 168.63.129.16:53: no such host", &["dns"])]
#[case::dns_timeout_is_dns("rpc error: code = Unknown desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": dial tcp: lookup acrchaos.azurecr.io on 10.0.0.10:53: read udp 10.244.0.5:41234->10.0.0.10:53: i/o timeout", &["dns"])]
#[case::dns_server_misbehaving("failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": dial tcp: lookup acrchaos.azurecr.io on 10.0.0.10:53: server misbehaving", &["dns"])]
#[case::dns_try_again("failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": dial tcp: lookup acrchaos.azurecr.io: Try again", &["dns"])]
#[case::connection_refused("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": dial tcp 20.62.128.5:443: connect: connection refused", &["network-unreachable"])]
#[case::no_route("failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": dial tcp 20.62.128.5:443: connect: no route to host", &["network-unreachable"])]
#[case::tls_handshake_timeout_is_network("failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": net/http: TLS handshake timeout", &["network-unreachable"])]
#[case::x509("failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": tls: failed to verify certificate: x509: certificate signed by unknown authority", &["tls"])]
#[case::http_to_https("failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": http: server gave HTTP response to HTTPS client", &["tls"])]
fn containerd_formats(#[case] err: &str, #[case] expected: &[&str]) {
    let message = failed(err);
    assert_eq!(ids(&message), expected, "{message}");
    // The bare runtime text (no kubelet prefix) says the same.
    let bare = err.replace("{img}", IMG);
    assert_eq!(ids(&bare), expected, "{bare}");
}

// --------------------------------------------------------- Docker Engine node texts
#[rstest]
#[case::unauthorized("rpc error: code = Unknown desc = Error response from daemon: Get https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10: unauthorized: authentication required", &["unauthorized"])]
#[case::acr_unauthorized_body("rpc error: code = 2 desc = Error response from daemon: Get \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": unauthorized: authentication required, visit https://aka.ms/acr/authorization for more information.", &["unauthorized"])]
#[case::manifest_unknown("rpc error: code = Unknown desc = Error response from daemon: manifest for acrchaos.azurecr.io/probe/pause:9.9 not found: manifest unknown: manifest unknown", &["not-found"])]
#[case::old_manifest_not_found("rpc error: code = Unknown desc = Error response from daemon: manifest for acrchaos.azurecr.io/probe/pause:9.9 not found", &["not-found"])]
#[case::pull_access_denied("rpc error: code = Unknown desc = Error response from daemon: pull access denied for acrchaos/private, repository does not exist or may require 'docker login': denied: requested access to the resource is denied", &["access-denied"])]
#[case::firewall("rpc error: code = Unknown desc = Error response from daemon: Get \"https://acrchaos.azurecr.io/v2/\": denied: client with IP '20.1.2.3' is not allowed access. Refer https://aka.ms/acr/firewall to grant access.", &["forbidden-network"])]
#[case::no_basic_auth("rpc error: code = Unknown desc = Error response from daemon: Get https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10: no basic auth credentials", &["unauthorized-anonymous"])]
#[case::wrong_password("rpc error: code = Unknown desc = Error response from daemon: Get \"https://registry-1.docker.io/v2/\": unauthorized: incorrect username or password", &["unauthorized-credentials"])]
#[case::acr_wrong_sp_secret("rpc error: code = Unknown desc = Error response from daemon: Get \"https://acrchaos.azurecr.io/v2/\": unauthorized: Invalid clientid or client secret.", &["unauthorized-credentials"])]
#[case::hub_rate_limit("rpc error: code = Unknown desc = Error response from daemon: toomanyrequests: You have reached your pull rate limit. You may increase the limit by authenticating and upgrading: https://www.docker.com/increase-rate-limit", &["rate-limited"])]
#[case::no_matching_manifest("rpc error: code = Unknown desc = Error response from daemon: no matching manifest for linux/arm64/v8 in the manifest list entries", &["platform-mismatch"])]
#[case::daemon_503("rpc error: code = Unknown desc = Error response from daemon: received unexpected HTTP status: 503 Service Unavailable", &["registry-error"])]
#[case::client_timeout("rpc error: code = Unknown desc = Error response from daemon: Get \"https://acrchaos.azurecr.io/v2/\": net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)", &["network-unreachable"])]
#[case::bad_reference("rpc error: code = Unknown desc = Error response from daemon: invalid reference format: repository name must be lowercase", &["invalid-image-name"])]
fn docker_engine_texts(#[case] err: &str, #[case] expected: &[&str]) {
    let message = failed(err);
    assert_eq!(ids(&message), expected, "{message}");
}

// ----------------------------------------------------------------------- CRI-O texts
#[rstest]
#[case::manifest_unknown("rpc error: code = Unknown desc = reading manifest v9 in docker.io/library/nginx: manifest unknown", &["not-found"])]
#[case::name_unknown("reading manifest 3.10 in acrchaos.azurecr.io/probe/missing: name unknown: repository name not known to registry", &["not-found"])]
#[case::unauthorized("initializing source docker://{img}: reading manifest 3.10 in acrchaos.azurecr.io/probe/pause: unauthorized: authentication required", &["unauthorized"])]
#[case::token_refused("initializing source docker://{img}: unable to retrieve auth token: invalid username/password: unauthorized: authentication required", &["unauthorized"])]
#[case::ping_timeout("initializing source docker://{img}: pinging container registry acrchaos.azurecr.io: Get \"https://acrchaos.azurecr.io/v2/\": dial tcp 20.62.128.5:443: i/o timeout", &["network-unreachable"])]
#[case::old_ping_timeout("rpc error: code = Unknown desc = pinging docker registry returned: Get http://registry-1.docker.io/v2/: dial tcp 34.199.40.84:80: i/o timeout", &["network-unreachable"])]
#[case::ping_dns("rpc error: code = Unknown desc = error pinging docker registry registry-1.docker.io: Get \"https://registry-1.docker.io/v2/\": proxyconnect tcp: dial tcp: lookup http: Temporary failure in name resolution", &["dns"])]
#[case::ping_x509("initializing source docker://{img}: pinging container registry acrchaos.azurecr.io: Get \"https://acrchaos.azurecr.io/v2/\": x509: certificate signed by unknown authority", &["tls"])]
#[case::denied("rpc error: code = Unknown desc = reading manifest latest in docker.io/acrchaos/private: requested access to the resource is denied", &["access-denied"])]
#[case::denied_and_401_multiline("rpc error: code = Unknown desc = Error reading manifest latest in docker.io/crio/busybox: errors:\ndenied: requested access to the resource is denied\nunauthorized: authentication required\n", &["access-denied"])]
#[case::platform("rpc error: code = Unknown desc = choosing an image from manifest list docker://docker.io/library/busybox:1.36: no image found in manifest list for architecture arm64, variant \"v8\", OS linux", &["platform-mismatch"])]
#[case::bearer_403("rpc error: code = Unknown desc = Requesting bearer token: invalid status code from registry 403 (Forbidden)", &["forbidden-network"])]
#[case::bearer_503("Requesting bearer token: invalid status code from registry 503 (Service Unavailable)", &["registry-error"])]
#[case::hub_rate_limit("initializing source docker://docker.io/library/nginx:1.27: reading manifest 1.27 in docker.io/library/nginx: toomanyrequests: You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit", &["rate-limited"])]
fn cri_o_texts(#[case] err: &str, #[case] expected: &[&str]) {
    let message = failed(err);
    assert_eq!(ids(&message), expected, "{message}");
}

// ------------------------------------------------------------------ kubelet log lines
#[rstest]
#[case::not_found_escaped(r#"E1124 10:00:00.000000    1234 log.go:32] "Failed to pull image" err="rpc error: code = NotFound desc = failed to pull and unpack image \"acrchaos.azurecr.io/probe/pause:9.9\": failed to resolve reference \"acrchaos.azurecr.io/probe/pause:9.9\": acrchaos.azurecr.io/probe/pause:9.9: not found" image="acrchaos.azurecr.io/probe/pause:9.9""#, &["not-found"])]
#[case::unhandled_error_anonymous(r#"E1124 10:00:01.123456    1234 kuberuntime_manager.go:1256] "Unhandled Error" err="container &Container{Name:probe,Image:acrchaos.azurecr.io/probe/pause:3.10,} start failed in pod probe_acr-chaos-run1(0b6c): ErrImagePull: failed to pull and unpack image \"acrchaos.azurecr.io/probe/pause:3.10\": failed to resolve reference \"acrchaos.azurecr.io/probe/pause:3.10\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized" logger="UnhandledError""#, &["unauthorized-anonymous"])]
#[case::aggregate_in_err(r#"E1124 10:00:02.000000    1234 kuberuntime_image.go:55] "Failed to pull image" err="[rpc error: code = NotFound desc = failed to pull and unpack image \"acrchaos.azurecr.io/probe/pause:9.9\": failed to resolve reference \"acrchaos.azurecr.io/probe/pause:9.9\": acrchaos.azurecr.io/probe/pause:9.9: not found, rpc error: code = Unknown desc = failed to pull and unpack image \"acrchaos.azurecr.io/probe/pause:9.9\": failed to resolve reference \"acrchaos.azurecr.io/probe/pause:9.9\": failed to authorize: failed to fetch anonymous token: unexpected status: 401 Unauthorized]" image="acrchaos.azurecr.io/probe/pause:9.9""#, &["not-found", "unauthorized-anonymous"])]
#[case::missing_pull_secret(r#"W1124 10:00:03.000000    1234 kubelet_pods.go:1000] "Unable to retrieve pull secret, the image pull may not succeed." pod="acr-chaos-run1/probe" secret="" err="secret \"acr-pull\" not found""#, &["pull-secret-missing"])]
#[case::back_off_sync_error(r#"E1124 10:00:04.000000    1234 pod_workers.go:1301] "Error syncing pod, skipping" err="failed to \"StartContainer\" for \"probe\" with ImagePullBackOff: \"Back-off pulling image \\\"acrchaos.azurecr.io/probe/pause:3.10\\\"\"" pod="acr-chaos-run1/probe""#, &[])]
#[case::credential_provider_alone(r#"E1124 10:00:05.000000    1234 plugin.go:180] "Failed getting credential from external registry credential provider" err="error execing credential provider plugin acr-credential-provider for image acrchaos.azurecr.io/probe/pause:3.10: exit status 1""#, &[])]
#[case::expired_sp_secret(r#"E1124 10:00:06.000000    1234 azure_credentials.go:200] "Failed to get token" err="AADSTS7000222: The provided client secret keys for app '00000000-0000-0000-0000-000000000000' are expired.""#, &["unauthorized-credentials"])]
fn kubelet_log_lines(#[case] line: &str, #[case] expected: &[&str]) {
    assert_eq!(ids(line), expected, "{line}");
}

// ---------------------------------------- kubectl describe pod / kubectl get events rows
#[rstest]
#[case::describe_failed(&format!("  Warning  Failed     3s (x2 over 20s)  kubelet            Failed to pull image \"{IMG}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{IMG}\": failed to resolve reference \"{IMG}\": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized"), &["unauthorized-credentials"])]
#[case::describe_backoff(&format!("  Normal   BackOff    1s (x3 over 30s)  kubelet            Back-off pulling image \"{IMG}\""), &[])]
#[case::describe_err_image_pull("  Warning  Failed     3s (x2 over 20s)  kubelet            Error: ErrImagePull", &[])]
#[case::describe_image_pull_backoff("  Warning  Failed     1s (x3 over 30s)  kubelet            Error: ImagePullBackOff", &[])]
#[case::describe_secret_missing("  Warning  FailedToRetrieveImagePullSecret  5s (x4 over 40s)  kubelet  Unable to retrieve some image pull secrets (acr-pull); attempting to pull the image may not succeed.", &["pull-secret-missing"])]
#[case::describe_inspect_failed("  Warning  InspectFailed  2s  kubelet  Failed to apply default image tag \"AcrChaos.azurecr.io/Probe\": couldn't parse image name \"AcrChaos.azurecr.io/Probe\": invalid reference format: repository name (Probe) must be lowercase", &["invalid-image-name"])]
#[case::describe_invalid_image_name("  Warning  Failed  2s (x2 over 4s)  kubelet  Error: InvalidImageName", &["invalid-image-name"])]
#[case::describe_pulled(&format!("  Normal   Pulled     2s    kubelet            Successfully pulled image \"{IMG}\" in 1.204s (1.204s including waiting). Image size: 320368 bytes."), &[])]
#[case::events_failed(&format!("12s         Warning   Failed              pod/probe-firewall   Failed to pull image \"{IMG}\": rpc error: code = Unknown desc = failed to pull and unpack image \"{IMG}\": failed to resolve reference \"{IMG}\": failed to authorize: failed to fetch anonymous token: unexpected status: 403 Forbidden"), &["forbidden-network"])]
#[case::events_err_image_pull("12s         Warning   Failed              pod/probe-firewall   Error: ErrImagePull", &[])]
#[case::events_pulling(&format!("10s         Normal    Pulling             pod/probe-firewall   Pulling image \"{IMG}\""), &[])]
#[case::events_crash_loop("45s         Warning   BackOff             pod/api-7d9f8        Back-off restarting failed container api in pod api-7d9f8_default(1c2d)", &[])]
#[case::events_wide_with_count(&format!("5m   Warning   Failed   pod/probe-tag   spec.containers{{probe}}   kubelet, aks-nodepool1-0   Failed to pull image \"{IMG}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{IMG}\": failed to resolve reference \"{IMG}\": {IMG}: not found   6m   401   probe-tag.17abc"), &["not-found"])]
fn kubectl_rows(#[case] row: &str, #[case] expected: &[&str]) {
    assert_eq!(ids(row), expected, "{row}");
}

// ------------------------------------------------------------------------- negatives
#[rstest]
#[case::back_off("Back-off pulling image \"acrchaos.azurecr.io/probe/pause:3.10\"")]
#[case::err_image_pull("Error: ErrImagePull")]
#[case::image_pull_backoff("Error: ImagePullBackOff")]
#[case::success(
    "Successfully pulled image \"acrchaos.azurecr.io/probe/pause:3.10\" in 1.2s (1.2s including waiting). Image size: 320368 bytes."
)]
#[case::crash_loop("Back-off restarting failed container probe in pod probe_acr-chaos(0b6c)")]
#[case::started("Started container probe")]
#[case::empty("")]
#[case::whitespace("   \t ")]
#[case::pulling("Pulling image \"acrchaos.azurecr.io/probe/pause:3.10\"")]
#[case::liveness_probe(
    "Liveness probe failed: Get \"http://10.244.1.7:8080/healthz\": dial tcp 10.244.1.7:8080: connect: connection refused"
)]
#[case::readiness_probe_status(
    "  Warning  Unhealthy  5s (x3 over 25s)  kubelet  Readiness probe failed: HTTP probe failed with statuscode: 503"
)]
#[case::runtime_socket_down(
    "Failed to pull image \"acrchaos.azurecr.io/probe/pause:3.10\": rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused\""
)]
#[case::pull_timeout(
    "Failed to pull image \"acrchaos.azurecr.io/probe/pause:3.10\": rpc error: code = DeadlineExceeded desc = context deadline exceeded"
)]
#[case::connection_closed(
    "Failed to pull image \"acrchaos.azurecr.io/probe/pause:3.10\": failed to pull and unpack image \"acrchaos.azurecr.io/probe/pause:3.10\": failed to resolve reference \"acrchaos.azurecr.io/probe/pause:3.10\": failed to do request: Head \"https://acrchaos.azurecr.io/v2/probe/pause/manifests/3.10\": EOF"
)]
#[case::evidence_words_in_image_name(
    "Successfully pulled image \"acrchaos.azurecr.io/toomanyrequests/x509/not-found:403\" in 1s (1s including waiting). Image size: 1 bytes."
)]
#[case::evidence_words_in_pulling(
    "Pulling image \"acrchaos.azurecr.io/insufficient_scope/unauthorized:500\""
)]
fn no_cause(#[case] message: &str) {
    assert_eq!(ids(message), Vec::<&str>::new(), "{message}");
}

#[test]
fn image_name_words_do_not_add_causes() {
    let img = "acrchaos.azurecr.io/toomanyrequests/x509:500";
    let m = format!(
        "Failed to pull image \"{img}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{img}\": failed to resolve reference \"{img}\": {img}: not found"
    );
    assert_eq!(ids(&m), ["not-found"]);
}

#[test]
fn odd_input_never_panics() {
    let odd = [
        "[",
        "]",
        "[rpc error:",
        "[rpc error: , ",
        ", ]",
        "]]]] [[[[",
        "é[rpc error: é, failed to é]",
        "[rpc error: code = NotFound desc = x: not found, [failed to y, ]]",
        "\u{0}\u{ffff}: not found",
    ];
    for m in odd {
        let _ = classify(m);
    }
    let long = format!("{}{}", "x, ".repeat(50_000), failed("pull QPS exceeded."));
    assert_eq!(ids(&long), ["rate-limited"]);
    assert_eq!(
        ids("é[rpc error: code = NotFound desc = é: not found, failed to é]"),
        ["not-found"]
    );
}

#[test]
fn explain_message_carries_texts_in_order() {
    let m = failed(&format!("[{NF}, {ANON}]"));
    let d = explain_message(&m);
    assert_eq!(
        d.iter().map(|d| d.cause).collect::<Vec<_>>(),
        [Cause::NotFound, Cause::UnauthorizedAnonymous]
    );
    assert!(d[0].remediation.contains("az acr repository show-tags"), "{}", d[0].remediation);
    assert!(d[1].remediation.contains("az aks check-acr"), "{}", d[1].remediation);
    assert!(d[1].remediation.contains("--attach-acr"), "{}", d[1].remediation);
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json[1]["cause"], "unauthorized-anonymous");
}

#[test]
fn remediations_follow_the_guide() {
    let expect = [
        (Cause::UnauthorizedAnonymous, "az aks update"),
        (Cause::UnauthorizedCredentials, "kubectl create secret docker-registry"),
        (Cause::ForbiddenNetwork, "networkRuleSet"),
        (Cause::Dns, "privatelink.azurecr.io"),
        (Cause::NotFound, "show-tags"),
        (Cause::PullSecretMissing, "kubectl create secret docker-registry"),
    ];
    for (c, needle) in expect {
        assert!(c.remediation().contains(needle), "{c}: {}", c.remediation());
    }
}

#[test]
fn bench_corpus_classifies() {
    let corpus = acr_chaos::classify::bench_corpus();
    assert!((45..=80).contains(&corpus.len()), "{}", corpus.len());
    let causes: std::collections::BTreeSet<Cause> =
        corpus.iter().flat_map(|m| classify(m)).collect();
    // A mixed corpus exercises (nearly) the whole taxonomy.
    assert!(causes.len() >= 13, "{causes:?}");
}

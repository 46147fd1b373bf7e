//! The root-ca-cert-publisher: ConfigMap `kube-root-ca.crt` with the cluster CA in
//! every namespace, recreated when deleted and restored when changed.

use serde_json::{Value, json};

use super::Ctx;
use super::util::s;
use crate::kube::Kind;

pub const NAME: &str = "kube-root-ca.crt";
const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

pub(super) fn sync(ctx: &Ctx, ns: &str) {
    let Some(pem) = ctx.opts.root_ca_pem.as_deref() else { return };
    let Ok(namespace) = ctx.store.get(&Kind::Namespace, None, ns) else { return };
    if s(&namespace, "/status/phase") == "Terminating" {
        return;
    }
    let data = json!({"ca.crt": pem});
    match ctx.store.get(&Kind::ConfigMap, Some(ns), NAME) {
        Ok(cm) if cm.get("data") == Some(&data) => {}
        Ok(mut cm) => {
            cm["data"] = data;
            if let Some(m) = cm.as_object_mut() {
                m.remove("binaryData");
            }
            let _ = ctx.store.update(&Kind::ConfigMap, Some(ns), NAME, cm);
        }
        Err(_) => {
            let cm = json!({
                "metadata": {"name": NAME, "namespace": ns,
                             "annotations": {"kubernetes.io/description": DESCRIPTION}},
                "data": data,
            });
            if let Err(e) = ctx.store.create(&Kind::ConfigMap, Some(ns), cm) {
                tracing::debug!(ns, "publishing {NAME}: {}", e.message);
            }
        }
    }
}

/// Is this ConfigMap the published one (its changes re-sync the namespace)?
pub(super) fn is_published(cm: &Value) -> bool {
    s(cm, "/metadata/name") == NAME
}

//! OpenAPI documents generated from k8s-openapi's typed models (their `JsonSchema` impls
//! carry the upstream names and descriptions): `/openapi/v3` with one document per served
//! group-version, and `/openapi/v2` (Swagger 2.0, JSON only). Each document is built once,
//! on first use, and served from memory under a content hash, as the real server does.
//!
//! Differences from a real API server, on purpose: only the kinds the emulator serves (and
//! what they reference) are in the documents; operations carry the GVK and the
//! `fieldValidation`/`dryRun`/`fieldManager` parameters but no request bodies, so kubectl
//! keeps computing strategic merge patches from its compiled-in types (k8s-openapi's
//! schemas lack the `x-kubernetes-patch-*` extensions a schema-driven patch would need).

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Instant;

use bytes::Bytes;
use k8s_openapi::api::{apps, authorization, batch, coordination, core, events, rbac};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ListMeta;
use k8s_openapi::Resource;
use schemars::JsonSchema;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::transform::ReplaceBoolSchemas;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

use super::discovery::GIT_VERSION;
use super::kind::Kind;

/// One serialized document and the hash its URL carries.
#[derive(Debug, Clone)]
pub struct Document {
    pub body: Bytes,
    /// Upper-case hex SHA-512 of `body` (the form kube-openapi uses).
    pub hash: String,
}

impl Document {
    fn new(v: &Value) -> Self {
        let body = Bytes::from(serde_json::to_vec(v).unwrap_or_default());
        let hash = hex::encode_upper(Sha512::digest(&body));
        Self { body, hash }
    }
}

/// The OpenAPI dialect: where definitions live and how parameters are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    V2,
    V3,
}

impl Dialect {
    fn generator(self) -> SchemaGenerator {
        match self {
            // `$ref` with siblings becomes `allOf: [{$ref}]` plus the siblings, as in the
            // real server's v3 documents (OpenAPI 3.0 ignores `$ref` siblings).
            Dialect::V3 => SchemaSettings::openapi3().with(|s| s.meta_schema = None),
            // Swagger 2.0 as the real server writes it: `$ref` keeps its `description`.
            Dialect::V2 => SchemaSettings::draft07().with(|s| {
                s.definitions_path = "/definitions".into();
                s.meta_schema = None;
                let mut bools = ReplaceBoolSchemas::default();
                bools.skip_additional_properties = true;
                s.transforms = vec![Box::new(bools)];
            }),
        }
        .into_generator()
    }

    fn reference(self, name: &str) -> Value {
        match self {
            Dialect::V3 => json!({"$ref": format!("#/components/schemas/{name}")}),
            Dialect::V2 => json!({"$ref": format!("#/definitions/{name}")}),
        }
    }

    /// `ref` as the value of a property that also has a description.
    fn described_reference(self, name: &str, description: &str) -> Value {
        match self {
            Dialect::V3 => json!({"allOf": [self.reference(name)], "description": description}),
            Dialect::V2 => {
                let mut r = self.reference(name);
                r["description"] = json!(description);
                r
            }
        }
    }

    fn query_param(self, name: &str) -> Value {
        match self {
            Dialect::V3 => json!({
                "name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true},
            }),
            Dialect::V2 => json!({"name": name, "in": "query", "type": "string", "uniqueItems": true}),
        }
    }

    fn ok_response(self, schema: Option<Value>) -> Value {
        match (self, schema) {
            (_, None) => json!({"200": {"description": "OK"}}),
            (Dialect::V3, Some(s)) => {
                json!({"200": {"description": "OK", "content": {"application/json": {"schema": s}}}})
            }
            (Dialect::V2, Some(s)) => json!({"200": {"description": "OK", "schema": s}}),
        }
    }
}

/// A kind's schema as registered with the generator.
#[derive(Debug, Clone)]
struct Registered {
    kind: Kind,
    /// Definition name, e.g. `io.k8s.api.core.v1.Pod`.
    name: String,
    group: &'static str,
    version: &'static str,
    kind_name: &'static str,
}

impl Registered {
    fn gvk(&self, kind_name: &str) -> Value {
        json!({"group": self.group, "version": self.version, "kind": kind_name})
    }

    /// The list kind's definition name, e.g. `io.k8s.api.core.v1.PodList`.
    fn list_name(&self) -> String {
        format!("{}List", self.name)
    }

    fn listable(&self) -> bool {
        self.kind.verbs().contains(&"list")
    }
}

fn register<T: Resource + JsonSchema>(kind: Kind, generator: &mut SchemaGenerator) -> Registered {
    generator.subschema_for::<T>();
    Registered {
        kind,
        name: T::schema_name().into_owned(),
        group: T::GROUP,
        version: T::VERSION,
        kind_name: T::KIND,
    }
}

/// The typed model behind each served kind. Exhaustive on purpose: a new `Kind` does not
/// compile until it has its model here.
fn register_kind(kind: Kind, g: &mut SchemaGenerator) -> Registered {
    match kind {
        Kind::Namespace => register::<core::v1::Namespace>(kind, g),
        Kind::Pod => register::<core::v1::Pod>(kind, g),
        Kind::Secret => register::<core::v1::Secret>(kind, g),
        Kind::ServiceAccount => register::<core::v1::ServiceAccount>(kind, g),
        Kind::Event => register::<core::v1::Event>(kind, g),
        Kind::ConfigMap => register::<core::v1::ConfigMap>(kind, g),
        Kind::Node => register::<core::v1::Node>(kind, g),
        Kind::PersistentVolumeClaim => register::<core::v1::PersistentVolumeClaim>(kind, g),
        Kind::Lease => register::<coordination::v1::Lease>(kind, g),
        Kind::EventV1 => register::<events::v1::Event>(kind, g),
        Kind::Deployment => register::<apps::v1::Deployment>(kind, g),
        Kind::ReplicaSet => register::<apps::v1::ReplicaSet>(kind, g),
        Kind::Job => register::<batch::v1::Job>(kind, g),
        Kind::CronJob => register::<batch::v1::CronJob>(kind, g),
        Kind::Role => register::<rbac::v1::Role>(kind, g),
        Kind::ClusterRole => register::<rbac::v1::ClusterRole>(kind, g),
        Kind::RoleBinding => register::<rbac::v1::RoleBinding>(kind, g),
        Kind::ClusterRoleBinding => register::<rbac::v1::ClusterRoleBinding>(kind, g),
        Kind::SelfSubjectAccessReview => {
            register::<authorization::v1::SelfSubjectAccessReview>(kind, g)
        }
        Kind::SelfSubjectRulesReview => {
            register::<authorization::v1::SelfSubjectRulesReview>(kind, g)
        }
    }
}

fn kinds_of(group: &str, version: &str) -> Vec<Kind> {
    Kind::ALL.into_iter().filter(|k| k.group() == group && k.version() == version).collect()
}

/// `api/v1` or `apis/<group>/<version>`.
fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() { format!("api/{version}") } else { format!("apis/{group}/{version}") }
}

/// Definitions for `kinds` (and everything they reference), each kind and its list kind
/// marked with `x-kubernetes-group-version-kind`.
fn definitions(dialect: Dialect, kinds: &[Kind]) -> (Map<String, Value>, Vec<Registered>) {
    let mut generator = dialect.generator();
    let registered: Vec<Registered> = kinds.iter().map(|k| register_kind(*k, &mut generator)).collect();
    let list_meta = ListMeta::schema_name().into_owned();
    if registered.iter().any(Registered::listable) {
        generator.subschema_for::<ListMeta>();
    }
    let mut defs = generator.take_definitions(true);
    for r in &registered {
        let Some(def) = defs.get_mut(&r.name).and_then(Value::as_object_mut) else { continue };
        def.insert("x-kubernetes-group-version-kind".into(), json!([r.gvk(r.kind_name)]));
        if !METADATA_REQUIRED_UPSTREAM.contains(&r.name.as_str()) {
            unrequire(def, "metadata");
        }
        let common = |field: &str| def.get("properties").and_then(|p| p.get(field)).cloned();
        let (api_version, kind) = (common("apiVersion"), common("kind"));
        if r.listable() {
            let list = list_definition(dialect, r, &list_meta, api_version, kind);
            defs.insert(r.list_name(), list);
        }
    }
    (defs, registered)
}

/// k8s-openapi requires `metadata` on every resource (its Rust field is not optional); the
/// real schemas require it only where the Go field has no `omitempty`, which among the served
/// kinds is core/v1 Event alone. Without this, `kubectl explain pods` would say
/// `metadata <ObjectMeta> -required-`.
const METADATA_REQUIRED_UPSTREAM: [&str; 1] = ["io.k8s.api.core.v1.Event"];

fn unrequire(def: &mut Map<String, Value>, field: &str) {
    let Some(Value::Array(required)) = def.get_mut("required") else { return };
    required.retain(|f| f != field);
    if required.is_empty() {
        def.remove("required");
    }
}

/// `<Kind>List`: k8s-openapi's generic `List<T>` has no schema of its own.
fn list_definition(
    dialect: Dialect,
    r: &Registered,
    list_meta: &str,
    api_version: Option<Value>,
    kind: Option<Value>,
) -> Value {
    json!({
        "description": format!("{}List is a list of {} objects.", r.kind_name, r.kind_name),
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": api_version.unwrap_or_else(|| json!({"type": "string"})),
            "items": {
                "description": format!("List of {}.", r.kind.plural()),
                "type": "array",
                "items": dialect.reference(&r.name),
            },
            "kind": kind.unwrap_or_else(|| json!({"type": "string"})),
            "metadata": dialect.described_reference(
                list_meta,
                "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds",
            ),
        },
        "x-kubernetes-group-version-kind": [r.gvk(&format!("{}List", r.kind_name))],
    })
}

/// The item and collection paths of each kind with the operations the emulator serves.
fn paths(dialect: Dialect, registered: &[Registered]) -> Map<String, Value> {
    let params: Vec<Value> =
        ["fieldValidation", "dryRun", "fieldManager"].map(|p| dialect.query_param(p)).into();
    let mut paths = Map::new();
    for r in registered {
        let k = r.kind;
        let gvk = r.gvk(r.kind_name);
        let object = dialect.reference(&r.name);
        let op = |verb: &str, schema: Option<Value>| {
            json!({
                "operationId": format!("{verb}{}", r.kind_name),
                "parameters": params,
                "responses": dialect.ok_response(schema),
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
            })
        };
        let list = r.listable().then(|| dialect.reference(&r.list_name()));
        let base = format!("/{}", gv_path(r.group, r.version));
        let coll = if k.namespaced() {
            format!("{base}/namespaces/{{namespace}}/{}", k.plural())
        } else {
            format!("{base}/{}", k.plural())
        };
        let item = format!("{coll}/{{name}}");
        let obj = || Some(object.clone());
        let (item_ops, coll_ops) = if k.read_only() {
            (json!({"get": op("get", obj())}), json!({"get": op("list", list)}))
        } else {
            (
                json!({
                    "get": op("get", obj()), "put": op("put", obj()),
                    "patch": op("patch", obj()), "delete": op("delete", None),
                }),
                json!({"get": op("list", list), "post": op("post", obj())}),
            )
        };
        paths.insert(item, item_ops);
        paths.insert(coll, coll_ops);
    }
    paths
}

fn info() -> Value {
    json!({"title": "Kubernetes", "version": GIT_VERSION})
}

fn v3_document(group: &str, version: &str) -> Value {
    let (defs, registered) = definitions(Dialect::V3, &kinds_of(group, version));
    json!({
        "openapi": "3.0.0",
        "info": info(),
        "paths": paths(Dialect::V3, &registered),
        "components": {"schemas": defs},
    })
}

fn v2_document() -> Value {
    let (defs, registered) = definitions(Dialect::V2, &Kind::ALL);
    json!({
        "swagger": "2.0",
        "info": info(),
        "paths": paths(Dialect::V2, &registered),
        "definitions": defs,
    })
}

/// The v3 documents by `api/v1` / `apis/<group>/<version>`, and the index.
struct V3 {
    docs: BTreeMap<String, Document>,
    index: Document,
}

fn v3() -> &'static V3 {
    static V3_DOCS: OnceLock<V3> = OnceLock::new();
    V3_DOCS.get_or_init(|| {
        let docs: BTreeMap<String, Document> = Kind::group_versions()
            .into_iter()
            .map(|(g, v)| (gv_path(g, v), Document::new(&v3_document(g, v))))
            .collect();
        let paths: Map<String, Value> = docs
            .iter()
            .map(|(p, d)| {
                (p.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", d.hash)}))
            })
            .collect();
        let index = Document::new(&json!({"paths": paths}));
        V3 { docs, index }
    })
}

/// `/openapi/v3`: the index of per-group-version documents with hash-stable URLs.
pub fn v3_index() -> &'static Document {
    &v3().index
}

/// `/openapi/v3/<api/v1 | apis/g/v>`, if that group-version is served.
pub fn v3_doc(rel: &str) -> Option<&'static Document> {
    v3().docs.get(rel)
}

/// `/openapi/v2`: every served kind in one Swagger 2.0 document.
pub fn v2_doc() -> &'static Document {
    static V2_DOC: OnceLock<Document> = OnceLock::new();
    V2_DOC.get_or_init(|| Document::new(&v2_document()))
}

/// Generation time and size of every document, generated afresh (not the cached copies the
/// server answers with), for `make bench`.
pub fn bench_generation() -> Value {
    let t = Instant::now();
    let v3_bytes: Map<String, Value> = Kind::group_versions()
        .into_iter()
        .map(|(g, v)| (gv_path(g, v), json!(Document::new(&v3_document(g, v)).body.len())))
        .collect();
    let v3_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let v2_bytes = Document::new(&v2_document()).body.len();
    let v2_ms = t.elapsed().as_secs_f64() * 1e3;
    json!({
        "v3_generate_all_ms": v3_ms,
        "v3_bytes": v3_bytes,
        "v2_generate_ms": v2_ms,
        "v2_bytes": v2_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(d: &Document) -> Value {
        serde_json::from_slice(&d.body).unwrap()
    }

    /// Every `$ref` in `v`, recursively.
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r);
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }

    fn assert_refs_resolve(doc: &Value, prefix: &str, defs: &Map<String, Value>, what: &str) {
        let mut all = Vec::new();
        refs(doc, &mut all);
        assert!(!all.is_empty(), "{what}: no $ref at all");
        for r in all {
            let name = r.strip_prefix(prefix).unwrap_or_else(|| panic!("{what}: foreign $ref {r}"));
            assert!(defs.contains_key(name), "{what}: $ref {r} does not resolve");
        }
    }

    fn has_gvk(defs: &Map<String, Value>, group: &str, version: &str, kind: &str) -> bool {
        let want = json!({"group": group, "version": version, "kind": kind});
        defs.values().any(|d| {
            d["x-kubernetes-group-version-kind"].as_array().is_some_and(|a| a.contains(&want))
        })
    }

    #[test]
    fn every_served_kind_has_its_gvk_and_every_ref_resolves_v3() {
        let index = parse(v3_index());
        for (g, v) in Kind::group_versions() {
            let p = gv_path(g, v);
            let url = index["paths"][&p]["serverRelativeURL"].as_str().unwrap();
            let doc = v3_doc(&p).unwrap();
            assert_eq!(url, format!("/openapi/v3/{p}?hash={}", doc.hash));
            let doc = parse(doc);
            assert_eq!(doc["openapi"], "3.0.0");
            let defs = doc["components"]["schemas"].as_object().unwrap();
            assert_refs_resolve(&doc, "#/components/schemas/", defs, &p);
            for k in kinds_of(g, v) {
                assert!(has_gvk(defs, g, v, k.kind_name()), "{p}: {k:?} without GVK");
                if k.verbs().contains(&"list") {
                    let list = format!("{}List", k.kind_name());
                    assert!(has_gvk(defs, g, v, &list), "{p}: {list} without GVK");
                }
                // kubectl explain finds the GVK through the resource's paths.
                let coll = if k.namespaced() {
                    format!("/{p}/namespaces/{{namespace}}/{}", k.plural())
                } else {
                    format!("/{p}/{}", k.plural())
                };
                assert_eq!(doc["paths"][&coll]["get"]["x-kubernetes-group-version-kind"]["kind"], k.kind_name());
            }
        }
        assert!(v3_doc("apis/policy/v1").is_none());
    }

    #[test]
    fn v3_carries_upstream_descriptions_with_ref_siblings_as_all_of() {
        let doc = parse(v3_doc("api/v1").unwrap());
        let defs = &doc["components"]["schemas"];
        let container = &defs["io.k8s.api.core.v1.Container"];
        assert!(container["properties"]["image"]["description"].as_str().unwrap().contains("Container image name"));
        let metadata = &defs["io.k8s.api.core.v1.Pod"]["properties"]["metadata"];
        assert_eq!(metadata["allOf"][0]["$ref"], "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
        assert!(metadata["description"].as_str().unwrap().starts_with("Standard object's metadata"));
        assert!(metadata.get("$ref").is_none());
        let required = |name: &str| defs[name].get("required").cloned().unwrap_or(json!([]));
        assert_eq!(required("io.k8s.api.core.v1.Pod"), json!([]));
        assert_eq!(required("io.k8s.api.core.v1.PodList"), json!(["items"]));
        assert!(required("io.k8s.api.core.v1.Event").as_array().unwrap().contains(&json!("metadata")));
        assert_eq!(required("io.k8s.api.core.v1.ContainerPort"), json!(["containerPort"]));
    }

    #[test]
    fn v2_is_swagger_with_every_kind_and_resolving_refs() {
        let doc = parse(v2_doc());
        assert_eq!(doc["swagger"], "2.0");
        let defs = doc["definitions"].as_object().unwrap();
        assert_refs_resolve(&doc, "#/definitions/", defs, "v2");
        for k in Kind::ALL {
            assert!(has_gvk(defs, k.group(), k.version(), k.kind_name()), "v2: {k:?} without GVK");
        }
        let metadata = &defs["io.k8s.api.apps.v1.Deployment"]["properties"]["metadata"];
        assert_eq!(metadata["$ref"], "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
        let param = &doc["paths"]["/api/v1/namespaces/{namespace}/pods"]["post"]["parameters"][0];
        assert_eq!(param, &json!({"name": "fieldValidation", "in": "query", "type": "string", "uniqueItems": true}));
    }

    #[test]
    fn models_match_the_served_kinds() {
        let mut g = Dialect::V3.generator();
        for k in Kind::ALL {
            let r = register_kind(k, &mut g);
            assert_eq!((r.group, r.version, r.kind_name), (k.group(), k.version(), k.kind_name()));
        }
    }
}

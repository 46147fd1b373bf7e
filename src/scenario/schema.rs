//! JSON Schema of scenario and target files (schemars), for editors and for the validator.

use super::{Scenario, Target};
use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

/// Which schema to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SchemaKind {
    Scenario,
    Target,
    /// One schema accepting either kind (`oneOf`), the default.
    All,
}

/// The JSON Schema (draft 2020-12) for `kind`.
pub fn json_schema(kind: SchemaKind) -> Value {
    let mut generator = SchemaSettings::draft2020_12().for_deserialize().into_generator();
    let (title, one_of) = match kind {
        SchemaKind::Scenario => ("acr-chaos Scenario", vec![generator.subschema_for::<Scenario>()]),
        SchemaKind::Target => ("acr-chaos Target", vec![generator.subschema_for::<Target>()]),
        SchemaKind::All => (
            "acr-chaos file (Scenario or Target)",
            vec![generator.subschema_for::<Scenario>(), generator.subschema_for::<Target>()],
        ),
    };
    let defs = generator.take_definitions(true);
    let mut root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("https://acr-chaos.invalid/schema/{}.json", match kind {
            SchemaKind::Scenario => "scenario",
            SchemaKind::Target => "target",
            SchemaKind::All => "acr-chaos",
        }),
        "title": title,
        "$defs": defs,
    });
    let one_of: Vec<Value> = one_of.into_iter().map(|s| s.to_value()).collect();
    if one_of.len() == 1 {
        root["$ref"] = one_of[0]["$ref"].clone();
    } else {
        root["oneOf"] = Value::Array(one_of);
    }
    root
}

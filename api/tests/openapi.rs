//! The OpenAPI document is a product: the committed `api/openapi.json` is what the code
//! produces and what the broker serves, it has no duplicate keys, every operation has a unique
//! `operationId`, and it describes what the broker really answers.

mod common;

use std::collections::HashSet;

use brokkr_api::openapi::{HTTP_METHODS, offline_document, parse_strict};
use common::TestBroker;
use serde_json::{Value, json};

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
const REGENERATE: &str =
    "cargo run -q -p brokkr-api --bin brokkr-broker -- openapi > api/openapi.json";

fn committed() -> String {
    std::fs::read_to_string(COMMITTED).unwrap_or_default()
}

/// (path, method, operation) of every operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if HTTP_METHODS.contains(&method.as_str()) {
                ops.push((path.clone(), method.clone(), op.clone()));
            }
        }
    }
    ops
}

#[tokio::test]
async fn the_committed_document_is_what_the_code_produces() {
    let produced = offline_document().expect("document");
    assert!(
        produced == committed(),
        "api/openapi.json differs from the document the code produces; regenerate it with\n    {REGENERATE}\nand commit it"
    );
}

#[tokio::test]
async fn the_served_document_is_the_committed_one_with_unique_operation_ids() {
    let b = TestBroker::start().await;
    let served = b
        .client
        .get(format!("{}/docs/openapi.json", b.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let doc = parse_strict(&served).expect("the served document has no duplicate keys");
    assert!(
        served == committed(),
        "the served document differs from api/openapi.json: {REGENERATE}"
    );
    let mut seen = HashSet::new();
    for (path, method, op) in operations(&doc) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        assert!(
            id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric()),
            "{method} {path}: operationId {id:?} is not camelCase"
        );
        assert!(
            seen.insert(id.to_owned()),
            "operationId {id:?} is used twice"
        );
    }
    for id in [
        "listAgents",
        "createStack",
        "getAgentTargetState",
        "redeliverWebhookDelivery",
    ] {
        assert!(seen.contains(id), "no operation {id}");
    }
}

#[tokio::test]
async fn the_document_describes_what_the_broker_answers() {
    let doc = parse_strict(&offline_document().unwrap()).unwrap();
    let schemas = &doc["components"]["schemas"];
    // Fields the broker sends as null are nullable.
    for (schema, field) in [
        ("Agent", "deleted_at"),
        ("Agent", "last_heartbeat"),
        ("WebhookResponse", "target_labels"),
        ("WebhookDelivery", "acquired_by"),
        ("AuthResponse", "agent"),
    ] {
        assert_eq!(
            schemas[schema]["properties"][field]["nullable"],
            Value::Bool(true),
            "{schema}.{field} is not nullable: {}",
            schemas[schema]["properties"][field]
        );
    }
    // Fields with a default are optional.
    let required = &schemas["CreateDeploymentObjectRequest"]["required"];
    assert!(
        !required
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "is_deletion_marker")
    );

    // Both forms of Authorization.
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearerAuth"]["scheme"], "bearer");
    assert_eq!(schemes["Pakauth"]["in"], "header");

    for (path, method, op) in operations(&doc) {
        let responses = op["responses"].as_object().unwrap();
        if op.get("requestBody").is_some() {
            for status in ["400", "413", "415"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} lacks {status}"
                );
            }
        }
        if op.get("security").is_some() {
            assert!(responses.contains_key("401"), "{method} {path} lacks 401");
            let alternatives = op["security"].as_array().unwrap();
            assert!(
                alternatives.iter().any(|s| s.get("bearerAuth").is_some())
                    && alternatives.iter().any(|s| s.get("Pakauth").is_some()),
                "{method} {path}: {alternatives:?}"
            );
        }
    }
    let target_state = &doc["paths"]["/agents/{id}/target-state"]["get"]["responses"];
    assert!(target_state.get("304").is_some(), "{target_state}");
    // A failed test delivery and an ordinary error share the 400: one response, either shape.
    for path in ["/webhooks", "/webhooks/{id}/test"] {
        let bad = &doc["paths"][path]["post"]["responses"]["400"];
        let shapes = bad["content"]["application/json; charset=utf-8"]["schema"]["anyOf"]
            .as_array()
            .unwrap_or_else(|| panic!("{path}: {bad}"));
        let refs: Vec<&str> = shapes.iter().filter_map(|s| s["$ref"].as_str()).collect();
        assert!(
            refs.contains(&"#/components/schemas/ErrorBody")
                && refs.contains(&"#/components/schemas/WebhookTestResult"),
            "{path}: {refs:?}"
        );
    }
}

/// A nullable field holding a model is that model or OpenAPI 3.0's null-only schema: the form
/// openapi-python-client reads as nullable (its models crashed on `"filters": null` and
/// `"result": null` with `nullable` beside `allOf`, found by the SDK contract tests) and that
/// Redocly accepts (`nullable` needs a `type` beside it).
#[tokio::test]
async fn nullable_model_fields_are_the_model_or_null() {
    let doc = parse_strict(&offline_document().unwrap()).unwrap();
    let schemas = &doc["components"]["schemas"];
    for (schema, field, model) in [
        ("WebhookResponse", "filters", "WebhookFilters"),
        ("DiagnosticResponse", "result", "DiagnosticResult"),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert_eq!(
            property["oneOf"],
            json!([
                {"$ref": format!("#/components/schemas/{model}")},
                {"type": "object", "nullable": true, "enum": [null]}
            ]),
            "{schema}.{field}: {property}"
        );
        assert!(
            property.get("allOf").is_none() && property.get("nullable").is_none(),
            "{schema}.{field}: {property}"
        );
    }
    // Nowhere else either: no property is `nullable` beside `allOf`.
    for (name, schema) in schemas.as_object().unwrap() {
        let properties = schema["properties"].as_object().into_iter().flatten();
        for (field, property) in properties {
            assert!(
                !(property.get("allOf").is_some() && property.get("nullable").is_some()),
                "{name}.{field}: {property}"
            );
        }
    }
}

/// A union's branches say what each may be: no `type` beside `anyOf`/`oneOf` (poem-openapi
/// writes `type: object` beside the label body's string-or-object union, and a strict
/// validator then refuses the bare string the broker accepts).
#[tokio::test]
async fn unions_have_no_type_beside_their_branches() {
    fn walk(value: &Value, at: &str, found: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if (map.contains_key("anyOf") || map.contains_key("oneOf"))
                    && map.contains_key("type")
                {
                    found.push(at.to_owned());
                }
                for (k, v) in map {
                    walk(v, &format!("{at}/{k}"), found);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{at}/{i}"), found);
                }
            }
            _ => {}
        }
    }
    let doc = parse_strict(&offline_document().unwrap()).unwrap();
    let mut found = Vec::new();
    walk(&doc, "", &mut found);
    assert!(found.is_empty(), "type beside anyOf/oneOf at {found:?}");
    let label = &doc["components"]["schemas"]["LabelBody"]["anyOf"];
    assert_eq!(
        label[0],
        json!({"type": "string"}),
        "the bare-string form of a label body: {label}"
    );
}

//! The OpenAPI document of `/api/v1`, as clients get it: served at `/docs/openapi.json`,
//! printed by `brokkr-broker openapi`, committed as `api/openapi.json` (a test keeps the three
//! equal).
//!
//! poem-openapi derives the operations, parameters, bodies and schemas from the handlers. This
//! module adds what the handlers cannot see: the answers of the HTTP envelope
//! ([`crate::http`]) on every route (413 and 415 where a body is read, 400 and 401 where input
//! or a key is parsed) and the `Bearer` form of the `Authorization` header. poem-openapi's text
//! is read with a parser that refuses duplicate keys, so a status listed twice (which tools
//! resolve differently) fails instead of being lost.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value, json};

use crate::server::ApiV1;
use crate::state::AppState;

/// Name of the security scheme poem-openapi derives from [`crate::auth::Pakauth`] (the bare key).
const RAW_KEY_SCHEME: &str = "Pakauth";
/// Name of the `Authorization: Bearer <PAK>` scheme added here.
const BEARER_SCHEME: &str = "bearerAuth";

/// Statuses the envelope may answer on any operation, with why.
const BODY_TOO_LARGE: &str = "The body is larger than `broker.max_body_bytes`.";
const UNSUPPORTED_MEDIA_TYPE: &str = "The body is not `application/json`.";
const MALFORMED: &str = "The request is malformed: an invalid path or query parameter, or a body that is not valid JSON or misses a required field.";
const UNAUTHENTICATED: &str = "The `Authorization` header is missing, malformed or names no key.";

/// The document for the handlers of `api`.
pub fn document(api: &poem_openapi::OpenApiService<ApiV1, ()>) -> Result<Value, String> {
    let generated = api.spec();
    let mut doc = parse_strict(&generated)
        .map_err(|e| format!("poem-openapi produced an invalid document: {e}"))?;
    describe_security(&mut doc);
    describe_envelope_answers(&mut doc);
    // The named models: objects, and the enums of `brokkr_schema::states`.
    let models: Vec<String> = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .map(|schemas| {
            schemas
                .iter()
                .filter(|(_, s)| s.get("type") == Some(&json!("object")) || s.get("enum").is_some())
                .map(|(name, _)| format!("#/components/schemas/{name}"))
                .collect()
        })
        .unwrap_or_default();
    single_ref_wrappers(&mut doc, &models);
    untyped_unions(&mut doc);
    Ok(doc)
}

/// poem-openapi writes `type: object` beside the `anyOf` of a union, although a branch may be
/// a string (`LabelBody`): a strict validator then refuses every bare-string body. The branches
/// say what each may be, so the `type` beside them goes.
fn untyped_unions(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("anyOf") || map.contains_key("oneOf") {
                map.remove("type");
            }
            map.values_mut().for_each(untyped_unions);
        }
        Value::Array(items) => items.iter_mut().for_each(untyped_unions),
        _ => {}
    }
}

/// poem-openapi describes a field holding another model (an object or an enum), with a
/// description or `nullable`, as `allOf: [{$ref}, {description, nullable}]` and repeats those
/// keys beside `allOf`. Generators turn the inline part into an extra model per field; the repeat says nothing, so it goes,
/// leaving `allOf: [{$ref}]` with the description beside it. A nullable one becomes
/// `oneOf: [{$ref}, {type: object, nullable: true, enum: [null]}]`, the model or OpenAPI 3.0's
/// null-only schema: `nullable` beside `allOf` needs a `type` beside it to mean anything
/// (OpenAPI 3.0.3, and Redocly's `nullable-type-sibling` rule), and with that `type`
/// openapi-python-client drops the `null` and its models fail on the value the broker sends.
fn single_ref_wrappers(value: &mut Value, models: &[String]) {
    match value {
        Value::Object(map) => {
            let outer: Map<String, Value> = map
                .iter()
                .filter(|(k, _)| k.as_str() != "allOf")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(Value::Array(parts)) = map.get_mut("allOf") {
                parts.retain(|part| {
                    let Some(part) = part.as_object() else {
                        return true;
                    };
                    let repeats_outer = !part.contains_key("$ref")
                        && part.iter().all(|(k, v)| {
                            matches!(k.as_str(), "description" | "nullable")
                                && outer.get(k) == Some(v)
                        });
                    !repeats_outer
                });
            }
            let wraps_models = map
                .get("allOf")
                .and_then(Value::as_array)
                .is_some_and(|parts| {
                    parts.iter().all(|p| {
                        p.get("$ref")
                            .and_then(Value::as_str)
                            .is_some_and(|r| models.iter().any(|m| m == r))
                    })
                });
            if wraps_models && map.get("nullable") == Some(&Value::Bool(true)) {
                map.remove("nullable");
                map.remove("type");
                if let Some(Value::Array(mut parts)) = map.remove("allOf") {
                    parts.push(json!({"type": "object", "nullable": true, "enum": [null]}));
                    map.insert("oneOf".into(), Value::Array(parts));
                }
            }
            for v in map.values_mut() {
                single_ref_wrappers(v, models);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| single_ref_wrappers(v, models)),
        _ => {}
    }
}

/// The document as committed and served: pretty JSON with a final newline.
pub fn render(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap_or_default();
    text.push('\n');
    text
}

/// The document without a database: the handlers over a pool that never connects (for
/// `brokkr-broker openapi` and the tests). Needs a Tokio runtime.
pub fn offline_document() -> anyhow::Result<String> {
    let settings = brokkr_schema::config::Settings::default();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect_lazy_with(sqlx::postgres::PgConnectOptions::new());
    let metrics = Arc::new(crate::metrics::Metrics::new()?);
    let state = Arc::new(AppState::new(pool, settings, metrics));
    let doc = document(&crate::server::openapi(&state)).map_err(anyhow::Error::msg)?;
    Ok(render(&doc))
}

/// Both forms of `Authorization` accepted by [`crate::auth::identify`], as alternatives on every
/// operation that needs a key.
fn describe_security(doc: &mut Value) {
    if let Some(schemes) = doc
        .pointer_mut("/components/securitySchemes")
        .and_then(Value::as_object_mut)
    {
        if let Some(raw) = schemes
            .get_mut(RAW_KEY_SCHEME)
            .and_then(Value::as_object_mut)
        {
            raw.insert(
                "description".into(),
                json!("A Brokkr PAK (`brokkr_BR...`) as the whole `Authorization` value. The same header also accepts `Bearer <PAK>` (scheme `bearerAuth`)."),
            );
        }
        schemes.insert(
            BEARER_SCHEME.into(),
            json!({
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "PAK",
                "description": "`Authorization: Bearer <PAK>`, the form most clients send."
            }),
        );
    }
    for_each_operation(doc, |op| {
        let Some(security) = op.get_mut("security").and_then(Value::as_array_mut) else {
            return;
        };
        if security.iter().any(|s| s.get(RAW_KEY_SCHEME).is_some())
            && !security.iter().any(|s| s.get(BEARER_SCHEME).is_some())
        {
            security.insert(0, json!({ BEARER_SCHEME: [] }));
        }
    });
}

/// The envelope's answers, added where the operation does not list them already.
fn describe_envelope_answers(doc: &mut Value) {
    let error = json!({
        "application/json; charset=utf-8": {
            "schema": { "$ref": "#/components/schemas/ErrorBody" }
        }
    });
    let answer = |description: &str| json!({ "description": description, "content": error });
    for_each_operation(doc, |op| {
        let has_body = op.get("requestBody").is_some();
        let has_params = op
            .get("parameters")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
        let secured = op.get("security").is_some();
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            return;
        };
        let mut add = |status: &str, description: &str| {
            responses
                .entry(status.to_owned())
                .or_insert_with(|| answer(description));
        };
        if has_body || has_params {
            add("400", MALFORMED);
        }
        if secured {
            add("401", UNAUTHENTICATED);
        }
        if has_body {
            add("413", BODY_TOO_LARGE);
            add("415", UNSUPPORTED_MEDIA_TYPE);
        }
    });
}

fn for_each_operation(doc: &mut Value, mut f: impl FnMut(&mut Map<String, Value>)) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for item in paths.values_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if HTTP_METHODS.contains(&method.as_str())
                && let Some(op) = op.as_object_mut()
            {
                f(op);
            }
        }
    }
}

/// The keys of a path item that are operations.
pub const HTTP_METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Parses JSON, refusing any object that repeats a key (serde_json keeps the last one
/// silently).
pub fn parse_strict(text: &str) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue::deserialize(&mut de)?.0;
    de.end()?;
    Ok(value)
}

struct StrictValue(Value);

impl StrictValue {
    fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

impl<'de> de::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StrictValue::deserialize(d)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = StrictValue;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<StrictValue, E> {
        Ok(StrictValue(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<StrictValue, E> {
        Ok(StrictValue(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<StrictValue, E> {
        Ok(StrictValue(
            serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }
    fn visit_str<E>(self, v: &str) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::String(v)))
    }
    fn visit_unit<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_none<E>(self) -> Result<StrictValue, E> {
        Ok(StrictValue(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrictValue, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(StrictValue(Value::Array(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictValue, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let StrictValue(value) = map.next_value()?;
            if entries.insert(key.clone(), value).is_some() {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
        }
        Ok(StrictValue(Value::Object(entries.into_iter().collect())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        assert!(parse_strict(r#"{"a": {"b": [1, {"c": 1, "c": 2}]}}"#).is_err());
        assert!(parse_strict(r#"{"a": 1, "a": 1}"#).is_err());
        assert_eq!(
            parse_strict(r#"{"a": [1, 2.5, "x", null, true]}"#).unwrap(),
            json!({"a": [1, 2.5, "x", null, true]})
        );
    }
}

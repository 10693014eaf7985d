//! What PostgreSQL can store: finding the NUL characters it refuses.
//!
//! PostgreSQL's `text` refuses the character U+0000 (`invalid byte sequence for encoding
//! "UTF8": 0x00`) and `jsonb` refuses its escape (`unsupported Unicode escape sequence`), so a
//! NUL that reaches a query turns a request into a database error. These functions find one in
//! decoded input — JSON values, YAML values, query strings, URL paths — and say where it is in
//! words a caller can act on (`labels[2]`, `metadata.name`, `parameters.foo`). The broker's
//! HTTP envelope asks them about every request; the manifest and template checks ask them about
//! YAML and JSON Schemas that travel inside strings.
//!
//! ```
//! use brokkr_schema::storable;
//! let body = serde_json::json!({"metadata": {"labels": ["a", "b\u{0}"]}});
//! assert_eq!(storable::nul_in_json(&body).as_deref(), Some("metadata.labels[1]"));
//! ```

use std::fmt::Write;

/// How a NUL is shown inside a field path or a parameter name.
const NUL_SHOWN_AS: &str = "\\u0000";

/// The error message for a NUL in `field`, as it was spelt on the wire (`\u0000`, `%00`).
pub fn nul_message(field: &str, spelt: &str) -> String {
    format!("{field} contains a NUL character ({spelt}), which cannot be stored")
}

/// A field path being built while walking a document; empty at the root.
#[derive(Default)]
struct FieldPath(String);

impl FieldPath {
    fn key(&self, key: &str) -> FieldPath {
        let mut path = self.0.clone();
        if !path.is_empty() {
            path.push('.');
        }
        path.push_str(&key.replace('\0', NUL_SHOWN_AS));
        FieldPath(path)
    }

    fn index(&self, index: usize) -> FieldPath {
        let mut path = self.0.clone();
        let _ = write!(path, "[{index}]");
        FieldPath(path)
    }

    fn found(self) -> Option<String> {
        Some(self.0)
    }
}

/// The path of the first string or object key in `value` that contains a NUL (`""` when it
/// is `value` itself), or `None` when there is none.
pub fn nul_in_json(value: &serde_json::Value) -> Option<String> {
    json_at(value, FieldPath::default())
}

fn json_at(value: &serde_json::Value, path: FieldPath) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(s) if s.contains('\0') => path.found(),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| json_at(item, path.index(i))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                path.key(key).found()
            } else {
                json_at(item, path.key(key))
            }
        }),
        _ => None,
    }
}

/// [`nul_in_json`] for a YAML document (keys that are not strings are shown as `[?]`).
pub fn nul_in_yaml(value: &serde_yaml_ng::Value) -> Option<String> {
    yaml_at(value, FieldPath::default())
}

fn yaml_at(value: &serde_yaml_ng::Value, path: FieldPath) -> Option<String> {
    use serde_yaml_ng::Value;
    match value {
        Value::String(s) if s.contains('\0') => path.found(),
        Value::Sequence(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| yaml_at(item, path.index(i))),
        Value::Mapping(map) => map.iter().find_map(|(key, item)| {
            let named = match key {
                Value::String(k) => path.key(k),
                _ => FieldPath(format!("{}[?]", path.0)),
            };
            if yaml_at(key, FieldPath(named.0.clone())).is_some() {
                named.found()
            } else {
                yaml_at(item, named)
            }
        }),
        Value::Tagged(tagged) => yaml_at(&tagged.value, path),
        _ => None,
    }
}

/// The name of the first query parameter whose name or value decodes to text with a NUL
/// (`%00`), shown decoded with the NUL as `%00`.
pub fn nul_in_query(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        (name.contains("%00") || value.contains("%00")).then(|| readable_component(name))
    })
}

/// The first segment of a URL path that decodes to text with a NUL (`%00`), shown decoded with
/// the NUL as `%00`.
pub fn nul_in_path(path: &str) -> Option<String> {
    path.split('/')
        .find(|segment| segment.contains("%00"))
        .map(readable_component)
}

/// A percent-encoded URL component, decoded for an error message; a NUL stays `%00` and bytes
/// that are not UTF-8 become U+FFFD.
fn readable_component(component: &str) -> String {
    let bytes = component.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(0)) => {
                decoded.extend_from_slice(b"%00");
                i += 3;
            }
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_paths_name_the_field() {
        assert_eq!(nul_in_json(&json!({"a": 1, "b": "ok"})), None);
        assert_eq!(nul_in_json(&json!("x\u{0}")).as_deref(), Some(""));
        assert_eq!(
            nul_in_json(&json!({"labels": ["a", "b", "c\u{0}"]})).as_deref(),
            Some("labels[2]")
        );
        assert_eq!(
            nul_in_json(&json!({"parameters": {"foo": {"bar": [{"x": "\u{0}"}]}}})).as_deref(),
            Some("parameters.foo.bar[0].x")
        );
        assert_eq!(
            nul_in_json(&json!({"annotations": {"k\u{0}": "v"}})).as_deref(),
            Some("annotations.k\\u0000")
        );
        // The six characters `\u0000` are text, not a NUL.
        assert_eq!(nul_in_json(&json!({"a": "\\u0000"})), None);
    }

    #[test]
    fn yaml_escapes_are_found_in_values_and_keys() {
        let doc = |s: &str| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(s).unwrap();
        assert_eq!(
            nul_in_yaml(&doc("a:\n  b: \"x\\0\"\n")).as_deref(),
            Some("a.b")
        );
        assert_eq!(
            nul_in_yaml(&doc("a: [\"\\x00\"]\n")).as_deref(),
            Some("a[0]")
        );
        assert_eq!(
            nul_in_yaml(&doc("\"k\\u0000\": v\n")).as_deref(),
            Some("k\\u0000")
        );
        assert_eq!(nul_in_yaml(&doc("t: !tag \"\\0\"\n")).as_deref(), Some("t"));
        assert_eq!(nul_in_yaml(&doc("a: 'x\\0'\nb: x\\u0000\n")), None);
    }

    #[test]
    fn query_parameters_and_path_segments_are_named() {
        assert_eq!(nul_in_query("name=a&cluster_name=b"), None);
        assert_eq!(nul_in_query("name=a%00").as_deref(), Some("name"));
        assert_eq!(
            nul_in_query("x=1&cluster%5Fname=%00").as_deref(),
            Some("cluster_name")
        );
        assert_eq!(nul_in_query("na%00me=x").as_deref(), Some("na%00me"));
        assert_eq!(nul_in_query("name=%2500"), None, "an encoded `%00` is text");
        assert_eq!(
            nul_in_path("/api/v1/agents/1/labels/a%20b%00").as_deref(),
            Some("a b%00")
        );
        assert_eq!(nul_in_path("/api/v1/agents/1/labels/a%2500"), None);
    }
}

//! Stack templates: a Tera source rendered with parameters that a JSON Schema checks.
//!
//! Rendering is deliberately narrow, because template authors (generators) are not trusted with
//! the broker process:
//! - one template string per engine, never a file: `include`, `import`, `extends` and macro
//!   definitions are refused when the template is stored (a template including itself, or a
//!   recursive macro, would overflow the stack);
//! - `get_env` is replaced by a function that fails (it would read the broker's environment,
//!   secrets included), and `range` is capped at [`MAX_RANGE_LEN`] items;
//! - output is written into a buffer that refuses to grow past [`MAX_OUTPUT_BYTES`];
//! - no HTML autoescaping: the output is YAML.
//!
//! Parameters are checked with the `jsonschema` crate (no remote or file `$ref` resolution);
//! the schema's `default`s, nested ones included, are filled in before checking and rendering.
//!
//! ```
//! use brokkr_schema::templating::{Template, TemplateSource};
//! let tpl = Template::compile(&TemplateSource {
//!     content: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ name }}\n",
//!     parameters_schema: r#"{"type":"object","properties":{"name":{"type":"string","default":"demo"}}}"#,
//! }).unwrap();
//! let yaml = tpl.render(&serde_json::json!({})).unwrap();
//! assert!(yaml.contains("name: demo"));
//! ```

use std::collections::HashMap;
use std::io::{self, Write};

use serde_json::{Map, Value};
use tera::ast::Node;
use tera::{Context, Tera};

use crate::manifest::{self, ManifestError};

/// Largest rendered output, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;
/// Most items `range()` may produce.
pub const MAX_RANGE_LEN: usize = 10_000;
/// Name of the one template an engine holds.
const NAME: &str = "stack-template";

/// The stored text of a template version.
#[derive(Debug, Clone, Copy)]
pub struct TemplateSource<'a> {
    /// Tera source.
    pub content: &'a str,
    /// JSON Schema of the parameters, as JSON text.
    pub parameters_schema: &'a str,
}

/// Why a template cannot be stored or rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// The Tera source does not parse, or uses a refused feature.
    #[error("Invalid Tera syntax: {0}")]
    Syntax(String),
    /// The parameters schema is not JSON or not a valid JSON Schema.
    #[error("Invalid JSON Schema: {0}")]
    Schema(String),
}

/// Why an instantiation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// The parameters break the schema: one `"<path>: <message>"` per failure.
    #[error("Invalid parameters")]
    InvalidParameters(Vec<String>),
    /// Tera failed (an undefined variable, an output over the limit, ...).
    #[error("Template rendering failed: {0}")]
    Render(String),
    /// The output is not a list of Kubernetes objects.
    #[error("rendered template is not a list of Kubernetes objects: {0}")]
    Manifest(ManifestError),
}

/// A template ready to render: parsed Tera source and compiled schema.
pub struct Template {
    tera: Tera,
    schema: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Template").finish_non_exhaustive()
    }
}

fn no_env(_: &HashMap<String, Value>) -> tera::Result<Value> {
    Err(tera::Error::msg(
        "get_env is not available in Brokkr templates",
    ))
}

fn bounded_range(args: &HashMap<String, Value>) -> tera::Result<Value> {
    let number = |key: &str, default: u64| -> tera::Result<u64> {
        match args.get(key) {
            None => Ok(default),
            Some(v) => v.as_u64().ok_or_else(|| {
                tera::Error::msg(format!(
                    "Function `range` received {key}={v} but `{key}` can only be a non-negative integer"
                ))
            }),
        }
    };
    let start = number("start", 0)?;
    let step = number("step_by", 1)?.max(1);
    let end = match args.get("end") {
        Some(_) => number("end", 0)?,
        None => {
            return Err(tera::Error::msg(
                "Function `range` was called without an `end` argument",
            ));
        }
    };
    let len = end.saturating_sub(start).div_ceil(step);
    if len > MAX_RANGE_LEN as u64 {
        return Err(tera::Error::msg(format!(
            "Function `range` may produce at most {MAX_RANGE_LEN} items"
        )));
    }
    Ok(Value::Array(
        (start..end)
            .step_by(usize::try_from(step).unwrap_or(usize::MAX))
            .map(Value::from)
            .collect(),
    ))
}

/// Refuses the tags that reach beyond the one template string.
fn check_nodes(nodes: &[Node]) -> Result<(), String> {
    for node in nodes {
        match node {
            Node::Include(..) => return Err("`include` is not supported".into()),
            Node::ImportMacro(..) => return Err("`import` is not supported".into()),
            Node::Extends(..) => return Err("`extends` is not supported".into()),
            Node::MacroDefinition(..) => return Err("macros are not supported".into()),
            Node::Block(_, block, _) => check_nodes(&block.body)?,
            Node::FilterSection(_, section, _) => check_nodes(&section.body)?,
            Node::Forloop(_, forloop, _) => {
                check_nodes(&forloop.body)?;
                if let Some(empty) = &forloop.empty_body {
                    check_nodes(empty)?;
                }
            }
            Node::If(branches, _) => {
                for (_, _, body) in &branches.conditions {
                    check_nodes(body)?;
                }
                if let Some((_, body)) = &branches.otherwise {
                    check_nodes(body)?;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Parses Tera source into an engine that holds only it.
fn engine(content: &str) -> Result<Tera, TemplateError> {
    let mut tera = Tera::default();
    tera.autoescape_on(vec![]);
    tera.register_function("get_env", no_env);
    tera.register_function("range", bounded_range);
    tera.add_raw_template(NAME, content)
        .map_err(|e| TemplateError::Syntax(crate::error_chain(&e)))?;
    let template = tera
        .get_template(NAME)
        .map_err(|e| TemplateError::Syntax(crate::error_chain(&e)))?;
    if !template.macros.is_empty() {
        return Err(TemplateError::Syntax("macros are not supported".into()));
    }
    check_nodes(&template.ast).map_err(TemplateError::Syntax)?;
    Ok(tera)
}

/// Parses a parameters schema and compiles it.
fn compile_schema(text: &str) -> Result<(Value, jsonschema::Validator), TemplateError> {
    let schema: Value = serde_json::from_str(text)
        .map_err(|e| TemplateError::Schema(format!("not valid JSON: {e}")))?;
    if !schema.is_object() && !schema.is_boolean() {
        return Err(TemplateError::Schema(
            "a schema must be a JSON object or a boolean".into(),
        ));
    }
    // A NUL spelt inside the schema (`"default": "\u0000"`) would reach rendered YAML and the
    // database through the defaults it fills in.
    if let Some(path) = crate::storable::nul_in_json(&schema) {
        return Err(TemplateError::Schema(crate::storable::nul_message(
            &format!("parameters_schema at `{path}`"),
            "\\u0000",
        )));
    }
    let validator =
        jsonschema::validator_for(&schema).map_err(|e| TemplateError::Schema(e.to_string()))?;
    Ok((schema, validator))
}

/// Fills in the schema's `default`s that `value` lacks, recursing into nested object
/// properties (an absent object is created when its own properties have defaults), array
/// `items` and `allOf` branches. `$ref`s are not followed.
pub fn apply_defaults(schema: &Value, value: &mut Value) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if let (Some(properties), Some(object)) = (
        schema.get("properties").and_then(Value::as_object),
        value.as_object_mut(),
    ) {
        for (key, property) in properties {
            if !object.contains_key(key) {
                if let Some(default) = property.get("default") {
                    object.insert(key.clone(), default.clone());
                } else if property.get("properties").is_some_and(Value::is_object) {
                    let mut nested = Value::Object(Map::new());
                    apply_defaults(property, &mut nested);
                    if nested.as_object().is_some_and(|m| !m.is_empty()) {
                        object.insert(key.clone(), nested);
                    }
                    continue;
                }
            }
            if let Some(child) = object.get_mut(key) {
                apply_defaults(property, child);
            }
        }
    }
    if let (Some(items), Some(array)) = (
        schema.get("items").filter(|i| i.is_object()),
        value.as_array_mut(),
    ) {
        for item in array {
            apply_defaults(items, item);
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for branch in all {
            apply_defaults(branch, value);
        }
    }
}

/// A writer that refuses to grow past a limit.
struct BoundedBuffer {
    bytes: Vec<u8>,
    limit: usize,
}

impl Write for BoundedBuffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.bytes.len() + buf.len() > self.limit {
            return Err(io::Error::other(format!(
                "output is larger than {} bytes",
                self.limit
            )));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Template {
    /// Parses the source and compiles the schema: what `POST /templates` checks.
    pub fn compile(source: &TemplateSource<'_>) -> Result<Template, TemplateError> {
        let tera = engine(source.content)?;
        let (schema, validator) = compile_schema(source.parameters_schema)?;
        Ok(Template {
            tera,
            schema,
            validator,
        })
    }

    /// `parameters` with the schema's defaults filled in, or every way they break the schema.
    pub fn check_parameters(&self, parameters: &Value) -> Result<Value, Vec<String>> {
        check_against(&self.schema, &self.validator, parameters)
    }

    /// Renders with already checked parameters (the top-level keys of an object become the
    /// variables; any other value gives no variables).
    pub fn render_checked(&self, parameters: &Value) -> Result<String, RenderError> {
        render_with(&self.tera, parameters)
    }

    /// Checks the parameters, renders, and checks that the output is Kubernetes objects.
    pub fn render(&self, parameters: &Value) -> Result<String, RenderError> {
        let filled = self
            .check_parameters(parameters)
            .map_err(RenderError::InvalidParameters)?;
        let yaml = self.render_checked(&filled)?;
        manifest::parse_objects(&yaml).map_err(RenderError::Manifest)?;
        Ok(yaml)
    }
}

/// The parameters with the defaults of the schema source `parameters_schema` filled in,
/// checked against it — without compiling the Tera part (the renderer does that).
pub fn check_parameters_with(
    parameters_schema: &str,
    parameters: &Value,
) -> Result<Value, RenderError> {
    let (schema, validator) = compile_schema(parameters_schema)
        .map_err(|e| RenderError::Render(format!("the stored template is unusable: {e}")))?;
    check_against(&schema, &validator, parameters).map_err(RenderError::InvalidParameters)
}

/// Renders the Tera source `content` with already checked parameters — without compiling the
/// schema (the caller checked the parameters).
pub fn render_source(content: &str, parameters: &Value) -> Result<String, RenderError> {
    let tera = engine(content)
        .map_err(|e| RenderError::Render(format!("the stored template is unusable: {e}")))?;
    render_with(&tera, parameters)
}

/// `parameters` with `schema`'s defaults filled in, or every way they break it.
fn check_against(
    schema: &Value,
    validator: &jsonschema::Validator,
    parameters: &Value,
) -> Result<Value, Vec<String>> {
    let mut filled = parameters.clone();
    apply_defaults(schema, &mut filled);
    let errors: Vec<String> = validator
        .iter_errors(&filled)
        .map(|e| {
            let path = e.instance_path().as_str();
            let path = if path.is_empty() { "/" } else { path };
            format!("{path}: {e}")
        })
        .collect();
    if errors.is_empty() {
        Ok(filled)
    } else {
        Err(errors)
    }
}

/// Renders the compiled template of `tera` with already checked parameters.
fn render_with(tera: &Tera, parameters: &Value) -> Result<String, RenderError> {
    let context = match parameters {
        Value::Object(_) => Context::from_value(parameters.clone())
            .map_err(|e| RenderError::Render(crate::error_chain(&e)))?,
        _ => Context::new(),
    };
    let mut out = BoundedBuffer {
        bytes: Vec::new(),
        limit: MAX_OUTPUT_BYTES,
    };
    tera.render_to(NAME, &context, &mut out)
        .map_err(|e| RenderError::Render(crate::error_chain(&e)))?;
    String::from_utf8(out.bytes)
        .map_err(|_| RenderError::Render("output is not valid UTF-8".into()))
}

/// What a stack lacks to receive a template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mismatch {
    /// Template labels the stack does not have.
    pub missing_labels: Vec<String>,
    /// Template annotations (key, value) the stack does not have with that value.
    pub missing_annotations: Vec<(String, String)>,
}

impl Mismatch {
    /// True when nothing is missing.
    pub fn is_empty(&self) -> bool {
        self.missing_labels.is_empty() && self.missing_annotations.is_empty()
    }
}

/// Compares a template's labels and annotations with a stack's: every template label must be
/// on the stack and every template annotation on it with the same value (a template without
/// either matches every stack; the stack may have more).
pub fn match_stack(
    template_labels: &[String],
    template_annotations: &[(String, String)],
    stack_labels: &[String],
    stack_annotations: &[(String, String)],
) -> Mismatch {
    Mismatch {
        missing_labels: template_labels
            .iter()
            .filter(|l| !stack_labels.contains(l))
            .cloned()
            .collect(),
        missing_annotations: template_annotations
            .iter()
            .filter(|a| !stack_annotations.contains(a))
            .cloned()
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compile(content: &str, schema: &str) -> Result<Template, TemplateError> {
        Template::compile(&TemplateSource {
            content,
            parameters_schema: schema,
        })
    }

    #[test]
    fn syntax_and_schema_errors_are_refused() {
        assert!(matches!(
            compile("{{ name", "{}"),
            Err(TemplateError::Syntax(_))
        ));
        assert!(matches!(
            compile("{% if x %}", "{}"),
            Err(TemplateError::Syntax(_))
        ));
        assert!(matches!(compile("a", "{"), Err(TemplateError::Schema(_))));
        assert!(matches!(
            compile("a", r#"{"type": 12}"#),
            Err(TemplateError::Schema(_))
        ));
        assert!(matches!(compile("a", "[]"), Err(TemplateError::Schema(_))));
        for refused in [
            "{% include \"stack-template\" %}",
            "{% if a %}{% include \"x\" %}{% endif %}",
            "{% import \"x\" as m %}",
            "{% extends \"x\" %}",
            "{% macro f() %}{{ self::f() }}{% endmacro f %}",
        ] {
            assert!(
                matches!(compile(refused, "{}"), Err(TemplateError::Syntax(_))),
                "{refused}"
            );
        }
    }

    #[test]
    fn nested_defaults_are_applied() {
        let schema = json!({
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "replicas": {"type": "integer", "default": 2},
                "resources": {
                    "type": "object",
                    "properties": {"cpu": {"type": "string", "default": "100m"}}
                },
                "ports": {"type": "array", "items": {"type": "object", "properties": {"protocol": {"default": "TCP"}}}}
            }
        });
        let mut v = json!({"name": "web", "ports": [{"port": 80}]});
        apply_defaults(&schema, &mut v);
        assert_eq!(
            v,
            json!({"name": "web", "replicas": 2, "resources": {"cpu": "100m"}, "ports": [{"port": 80, "protocol": "TCP"}]})
        );
        let mut given = json!({"replicas": 5, "resources": {"cpu": "1"}});
        apply_defaults(&schema, &mut given);
        assert_eq!(given["replicas"], 5);
        assert_eq!(given["resources"]["cpu"], "1");
    }

    #[test]
    fn validation_errors_name_their_paths() {
        let t = compile(
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {{ name }}\n",
            r#"{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"replicas":{"type":"integer","minimum":1,"maximum":20}}}"#,
        )
        .unwrap();
        let errors = t.check_parameters(&json!({"replicas": 0})).unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(errors.iter().any(|e| e.starts_with("/replicas: ")));
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("/: ") && e.contains("name"))
        );
        assert!(t.render(&json!({"name": "x"})).unwrap().contains("name: x"));
    }

    #[test]
    fn rendering_is_confined() {
        let t = compile("{{ get_env(name=\"PATH\") }}", "{}").unwrap();
        assert!(matches!(
            t.render_checked(&json!({})),
            Err(RenderError::Render(_))
        ));
        let t = compile("{% for i in range(end=100000000) %}{% endfor %}", "{}").unwrap();
        assert!(matches!(
            t.render_checked(&json!({})),
            Err(RenderError::Render(_))
        ));
        let t = compile(
            "{% for i in range(end=10000) %}{% for j in range(end=10000) %}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}{% endfor %}",
            "{}",
        )
        .unwrap();
        match t.render_checked(&json!({})) {
            Err(RenderError::Render(m)) => assert!(m.contains("larger than"), "{m}"),
            other => panic!("expected the output limit, got {other:?}"),
        }
        let t = compile("{{ missing }}", "{}").unwrap();
        assert!(matches!(
            t.render_checked(&json!({})),
            Err(RenderError::Render(_))
        ));
        // No HTML escaping of YAML.
        let t = compile("{{ v }}", "{}").unwrap();
        assert_eq!(t.render_checked(&json!({"v": "<a&b>"})).unwrap(), "<a&b>");
    }

    #[test]
    fn output_must_be_kubernetes_objects() {
        let t = compile("hello: {{ x }}", "{}").unwrap();
        assert!(matches!(
            t.render(&json!({"x": 1})),
            Err(RenderError::Manifest(_))
        ));
    }

    #[test]
    fn matching_requires_every_label_and_annotation() {
        let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(match_stack(&[], &[], &[], &[]).is_empty());
        let m = match_stack(
            &l(&["env=prod", "tier=1"]),
            &a(&[("region", "eu"), ("team", "a")]),
            &l(&["env=prod", "extra"]),
            &a(&[("region", "us"), ("team", "a")]),
        );
        assert_eq!(m.missing_labels, l(&["tier=1"]));
        assert_eq!(m.missing_annotations, a(&[("region", "eu")]));
    }

    #[test]
    fn the_readme_example_renders_with_its_defaults() {
        let t = compile("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ name }}\nspec:\n  replicas: {{ replicas }}\n  selector: {matchLabels: {app: \"{{ name }}\"}}\n  template:\n    metadata: {labels: {app: \"{{ name }}\"}}\n    spec:\n      containers:\n        - name: app\n          image: {{ image }}\n          resources: {requests: {cpu: \"{{ resources.cpu }}\"}}\n", "{\"type\":\"object\",\"required\":[\"name\",\"image\"],\"properties\":{\"name\":{\"type\":\"string\"},\"image\":{\"type\":\"string\"},\"replicas\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":20,\"default\":2},\"resources\":{\"type\":\"object\",\"properties\":{\"cpu\":{\"type\":\"string\",\"default\":\"100m\"}}}}}").unwrap();
        let yaml = t
            .render(&json!({"name": "api", "image": "nginx:1.27"}))
            .unwrap();
        assert!(
            yaml.contains("replicas: 2") && yaml.contains("cpu: \"100m\""),
            "{yaml}"
        );
        assert!(yaml.contains("app: \"api\""), "{yaml}");
    }
}

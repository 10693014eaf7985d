//! Label and field selectors as the API server accepts them in `labelSelector` and
//! `fieldSelector`: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists) and
//! `!a` (does not exist), joined by commas.
//!
//! ```
//! use brokkr_e2e::kubesim::selectors::Selector;
//! let sel = Selector::parse_labels("app in (web,api),tier!=db,!legacy").unwrap();
//! let labels = serde_json::json!({"app": "web", "tier": "front"});
//! assert!(sel.matches_labels(&labels));
//! ```

use serde_json::Value;

use super::error::{ApiError, ApiResult};

/// One requirement of a selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// `key=value` / `key==value`.
    Equals(String, String),
    /// `key!=value` (also true when the key is absent).
    NotEquals(String, String),
    /// `key in (a,b)`.
    In(String, Vec<String>),
    /// `key notin (a,b)` (also true when the key is absent).
    NotIn(String, Vec<String>),
    /// `key`.
    Exists(String),
    /// `!key`.
    DoesNotExist(String),
}

/// A conjunction of requirements; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    /// All must hold.
    pub requirements: Vec<Requirement>,
}

/// Splits at commas that are not inside parentheses.
fn split_top_level(input: &str) -> ApiResult<Vec<String>> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut current = String::new();
    for c in input.chars() {
        match c {
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth -= 1;
                if depth < 0 {
                    return Err(ApiError::bad_request(format!(
                        "unable to parse requirement: unbalanced parentheses in {input:?}"
                    )));
                }
                current.push(c);
            }
            ',' if depth == 0 => parts.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if depth != 0 {
        return Err(ApiError::bad_request(format!(
            "unable to parse requirement: unbalanced parentheses in {input:?}"
        )));
    }
    parts.push(current);
    Ok(parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect())
}

fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 317
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

fn parse_set(raw: &str, whole: &str) -> ApiResult<Vec<String>> {
    let inner = raw
        .trim()
        .strip_prefix('(')
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "unable to parse requirement: found '{raw}', expected: '(' ... ')' in {whole:?}"
            ))
        })?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

fn parse_requirement(part: &str) -> ApiResult<Requirement> {
    let bad = || ApiError::bad_request(format!("unable to parse requirement: {part:?}"));
    if let Some(key) = part.strip_prefix('!') {
        let key = key.trim();
        return if valid_key(key) {
            Ok(Requirement::DoesNotExist(key.to_string()))
        } else {
            Err(bad())
        };
    }
    for (op, is_eq) in [("!=", false), ("==", true), ("=", true)] {
        if let Some((key, value)) = part.split_once(op) {
            let key = key.trim();
            let value = value.trim().to_string();
            if !valid_key(key) || value.contains(['=', '!', '(', ')', ' ']) {
                return Err(bad());
            }
            return Ok(if is_eq {
                Requirement::Equals(key.to_string(), value)
            } else {
                Requirement::NotEquals(key.to_string(), value)
            });
        }
    }
    let mut words = part.splitn(2, char::is_whitespace);
    let key = words.next().unwrap_or_default().trim();
    let rest = words.next().unwrap_or_default().trim();
    if rest.is_empty() {
        return if valid_key(key) {
            Ok(Requirement::Exists(key.to_string()))
        } else {
            Err(bad())
        };
    }
    if !valid_key(key) {
        return Err(bad());
    }
    if let Some(set) = rest.strip_prefix("notin") {
        return Ok(Requirement::NotIn(key.to_string(), parse_set(set, part)?));
    }
    if let Some(set) = rest.strip_prefix("in") {
        return Ok(Requirement::In(key.to_string(), parse_set(set, part)?));
    }
    Err(bad())
}

impl Selector {
    /// Parses a `labelSelector`.
    pub fn parse_labels(input: &str) -> ApiResult<Selector> {
        let requirements = split_top_level(input)?
            .iter()
            .map(|p| parse_requirement(p))
            .collect::<ApiResult<Vec<_>>>()?;
        Ok(Selector { requirements })
    }

    /// Parses a `fieldSelector` (only `=`, `==` and `!=` are allowed there).
    pub fn parse_fields(input: &str) -> ApiResult<Selector> {
        let sel = Self::parse_labels(input)?;
        for r in &sel.requirements {
            if !matches!(r, Requirement::Equals(..) | Requirement::NotEquals(..)) {
                return Err(ApiError::bad_request(format!(
                    "invalid field selector {input:?}: only =, == and != are supported"
                )));
            }
        }
        Ok(sel)
    }

    /// Builds a selector from a `matchLabels`/`matchExpressions` LabelSelector object.
    pub fn from_label_selector(selector: &Value) -> Selector {
        let mut requirements = Vec::new();
        if let Some(labels) = selector["matchLabels"].as_object() {
            for (k, v) in labels {
                requirements.push(Requirement::Equals(
                    k.clone(),
                    v.as_str().unwrap_or_default().to_string(),
                ));
            }
        }
        for expr in selector["matchExpressions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let key = expr["key"].as_str().unwrap_or_default().to_string();
            let values: Vec<String> = expr["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            match expr["operator"].as_str() {
                Some("In") => requirements.push(Requirement::In(key, values)),
                Some("NotIn") => requirements.push(Requirement::NotIn(key, values)),
                Some("Exists") => requirements.push(Requirement::Exists(key)),
                Some("DoesNotExist") => requirements.push(Requirement::DoesNotExist(key)),
                _ => {}
            }
        }
        Selector { requirements }
    }

    /// Does this selector match a `metadata.labels` map (`null` counts as no labels)?
    pub fn matches_labels(&self, labels: &Value) -> bool {
        self.matches_with(|key| labels.get(key).and_then(Value::as_str).map(str::to_string))
    }

    /// Does this field selector match the object (dotted paths such as `metadata.name`,
    /// `status.phase`)?
    pub fn matches_fields(&self, object: &Value) -> bool {
        self.matches_with(|path| {
            let mut node = object;
            for part in path.split('.') {
                node = node.get(part)?;
            }
            match node {
                Value::String(s) => Some(s.clone()),
                Value::Null => None,
                other => Some(other.to_string()),
            }
        })
    }

    fn matches_with(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => lookup(k).as_deref() == Some(v.as_str()),
            Requirement::NotEquals(k, v) => lookup(k).as_deref() != Some(v.as_str()),
            Requirement::In(k, vs) => lookup(k).is_some_and(|have| vs.contains(&have)),
            Requirement::NotIn(k, vs) => !lookup(k).is_some_and(|have| vs.contains(&have)),
            Requirement::Exists(k) => lookup(k).is_some(),
            Requirement::DoesNotExist(k) => lookup(k).is_none(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn all_operators() {
        let labels = json!({"app": "web", "tier": "front", "team.io/owner": "a"});
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app=api", false),
            ("app!=api", true),
            ("missing!=x", true),
            ("app in (api, web)", true),
            ("app in (api)", false),
            ("app notin (api)", true),
            ("app notin (web,api)", false),
            ("missing notin (x)", true),
            ("team.io/owner", true),
            ("missing", false),
            ("!missing", true),
            ("!app", false),
            ("app=web,tier in (front,back),!legacy", true),
            ("", true),
        ];
        for (sel, want) in cases {
            let parsed = Selector::parse_labels(sel).unwrap();
            assert_eq!(parsed.matches_labels(&labels), want, "{sel}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["app in web", "a=b=c", "app in (x", "x y z", "=v"] {
            assert!(Selector::parse_labels(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn field_selectors() {
        let obj =
            json!({"metadata": {"name": "a", "namespace": "n"}, "status": {"phase": "Running"}});
        assert!(
            Selector::parse_fields("metadata.name=a,status.phase!=Failed")
                .unwrap()
                .matches_fields(&obj)
        );
        assert!(
            !Selector::parse_fields("metadata.namespace==m")
                .unwrap()
                .matches_fields(&obj)
        );
    }
}

//! Validation rules shared by every resource: names, labels, annotations and states given as
//! text ([`state`]).
//!
//! Labels and annotation keys and values: non-empty, at most 64 bytes, no whitespace (any other
//! character is allowed, e.g. `env:prod`). Names: non-blank, at most [`MAX_NAME_LEN`] bytes —
//! agent and cluster names too (the original had no limit, but they are indexed, and PostgreSQL
//! cannot index a value much over 2 KB). The NUL character is refused everywhere, before these
//! rules run (see [`crate::storable`]).

use crate::states::{self, State};

/// A rule that input broke, worded for the API caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValidationError(pub String);

/// Longest label, annotation key or annotation value, in bytes.
pub const MAX_LABEL_LEN: usize = 64;
/// Longest generator, stack, template, webhook, agent or cluster name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

fn check_token(what: &str, value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError(format!("{what} cannot be empty")));
    }
    if value.len() > MAX_LABEL_LEN {
        return Err(ValidationError(format!(
            "{what} cannot be longer than {MAX_LABEL_LEN} characters"
        )));
    }
    if value.chars().any(char::is_whitespace) {
        return Err(ValidationError(format!("{what} cannot contain whitespace")));
    }
    Ok(())
}

/// Checks a label.
pub fn label(value: &str) -> Result<(), ValidationError> {
    check_token("Label", value)
}

/// Checks an annotation's key and value.
pub fn annotation(key: &str, value: &str) -> Result<(), ValidationError> {
    check_token("Annotation key", key)?;
    check_token("Annotation value", value)
}

/// Reads a state given as text in a request (`status` of a body or a query): one of `allowed`,
/// else refused as `{what} must be one of A, B, C`.
pub fn state_in<T: State>(what: &str, text: &str, allowed: &[T]) -> Result<T, ValidationError> {
    text.parse()
        .ok()
        .filter(|state| allowed.contains(state))
        .ok_or_else(|| ValidationError(format!("{what} must be one of {}", states::list(allowed))))
}

/// Reads any value of a state given as text in a request (see [`state_in`]).
pub fn state<T: State>(what: &str, text: &str) -> Result<T, ValidationError> {
    state_in(what, text, T::ALL)
}

/// Checks a required name: non-blank and at most `max` bytes (`None`: no limit).
pub fn name(what: &str, value: &str, max: Option<usize>) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        return Err(ValidationError(format!("{what} cannot be empty")));
    }
    if let Some(max) = max
        && value.len() > max
    {
        return Err(ValidationError(format!(
            "{what} cannot be longer than {max} characters"
        )));
    }
    Ok(())
}

/// The years a timestamp may fall in: what RFC 3339's four digits can spell. Parsers accept
/// years far beyond (`-200000-01-01T00:00:00Z`), which PostgreSQL cannot store before 4713 BC.
pub const TIMESTAMP_YEARS: std::ops::RangeInclusive<i32> = 0..=9999;

/// Checks a timestamp given by a client: its year is in [`TIMESTAMP_YEARS`].
pub fn timestamp(what: &str, value: &chrono::DateTime<chrono::Utc>) -> Result<(), ValidationError> {
    use chrono::Datelike;
    if TIMESTAMP_YEARS.contains(&value.year()) {
        return Ok(());
    }
    Err(ValidationError(format!(
        "{what} must be a time between the years {:04} and {:04}",
        TIMESTAMP_YEARS.start(),
        TIMESTAMP_YEARS.end()
    )))
}

/// Checks an optional description: when present it must not be blank.
pub fn description(value: Option<&str>) -> Result<(), ValidationError> {
    match value {
        Some(d) if d.trim().is_empty() => Err(ValidationError(
            "Description cannot be empty when provided".into(),
        )),
        _ => Ok(()),
    }
}

/// Checks a PostgreSQL schema name used for tenant isolation.
pub fn schema_name(value: &str) -> Result<(), ValidationError> {
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok
        || value.len() > 63
        || !value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ValidationError(
            "schema name must start with a letter, use only letters, digits and '_', and be at most 63 characters".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_the_seed_rules() {
        assert!(label("env:prod").is_ok());
        assert!(label("").is_err());
        assert!(label("a b").is_err());
        assert!(label("a\tb").is_err());
        assert!(label(&"x".repeat(64)).is_ok());
        assert!(label(&"x".repeat(65)).is_err());
    }

    #[test]
    fn annotations_check_key_and_value() {
        assert!(annotation("region", "us-east-1").is_ok());
        assert!(annotation("", "v").is_err());
        assert!(annotation("k", "").is_err());
        assert!(annotation("k", "a b").is_err());
    }

    #[test]
    fn names_and_schemas() {
        assert!(name("Stack name", "  ", Some(255)).is_err());
        assert!(name("Stack name", &"n".repeat(256), Some(255)).is_err());
        assert!(name("Stack name", "web", Some(255)).is_ok());
        assert!(schema_name("tenant_a").is_ok());
        assert!(schema_name("1tenant").is_err());
        assert!(schema_name("tenant;drop").is_err());
        assert!(schema_name(&"a".repeat(64)).is_err());
    }

    #[test]
    fn timestamps_have_four_digit_years() {
        let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
        assert!(timestamp("from", &at("0000-01-01T00:00:00Z")).is_ok());
        assert!(timestamp("from", &at("9999-12-31T23:59:59Z")).is_ok());
        let err = timestamp("from", &at("-200000-01-01T00:00:00Z")).unwrap_err();
        assert!(err.0.contains("from"), "{err}");
        assert!(timestamp("to", &at("+20000-01-01T00:00:00Z")).is_err());
    }
}

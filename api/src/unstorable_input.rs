//! Refusing, before any handler runs, request input that PostgreSQL cannot store.
//!
//! PostgreSQL refuses the NUL character in `text` and its escape in `jsonb`; a request carrying
//! one used to fail inside a query with a 500, after some of its work was done. The envelope
//! ([`crate::http`]) asks [`refuse_nul`] about every request, so the rule holds for every route,
//! present and future, in one place:
//!
//! - **URL path and query**: a `%00` in a path segment or in a query parameter's name or value
//!   (the only way to spell a NUL there: the HTTP parser refuses a raw one).
//! - **JSON bodies**: a raw NUL byte is already invalid JSON, so the only way in is the escape
//!   `\u0000`. One scan of the bytes looks for it; only a body that has it is parsed and walked,
//!   and the error names the field (`labels[2]`, `metadata.name`, `parameters.foo`). A look-alike
//!   (`\\u0000`, an escaped backslash followed by `u0000`) passes untouched.
//! - **Headers**: the HTTP parser answers 400 to a NUL in any header value before the request
//!   exists, so the headers handlers use as data (`User-Agent` in the audit log, `If-None-Match`)
//!   need no check here.
//!
//! YAML travels inside JSON strings; a NUL that YAML's own escapes spell is refused by
//! [`brokkr_schema::manifest`], and one inside a template's JSON Schema by
//! [`brokkr_schema::templating`]. Length limits of indexed columns are validation rules
//! ([`brokkr_schema::validation`]).

use brokkr_schema::storable;
use poem::http::header;
use poem::{Body, Request};

/// The escape that is the only way to spell a NUL in JSON.
const JSON_NUL_ESCAPE: &[u8] = br"\u0000";

/// Checks `req`'s path, query and body; `Err` carries the message for a 400. The body is read
/// and put back unchanged, so handlers see exactly what the client sent.
pub async fn refuse_nul(req: &mut Request) -> Result<(), String> {
    if let Some(segment) = storable::nul_in_path(req.uri().path()) {
        return Err(storable::nul_message(
            &format!("path segment `{segment}`"),
            "%00",
        ));
    }
    if let Some(name) = req.uri().query().and_then(storable::nul_in_query) {
        return Err(storable::nul_message(
            &format!("query parameter `{name}`"),
            "%00",
        ));
    }
    if !has_body(req) {
        return Ok(());
    }
    let bytes = req
        .take_body()
        .into_bytes()
        .await
        .map_err(|e| format!("could not read the request body: {e}"))?;
    let found = nul_in_json_body(&bytes);
    req.set_body(Body::from(bytes));
    match found {
        Some(field) => Err(storable::nul_message(&field, "\\u0000")),
        None => Ok(()),
    }
}

/// Whether the request declares a body (a non-zero length, or chunks).
fn has_body(req: &Request) -> bool {
    let declared = req
        .header(header::CONTENT_LENGTH)
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(length) => length > 0,
        None => req.header(header::TRANSFER_ENCODING).is_some(),
    }
}

/// The field of a JSON body that holds a NUL, named for the caller (`request body` when the
/// body is the string itself). Bodies without the escape — nearly all — are not parsed; bodies
/// that are not JSON are left to the handler's own error.
fn nul_in_json_body(bytes: &[u8]) -> Option<String> {
    memchr::memmem::find(bytes, JSON_NUL_ESCAPE)?;
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    let path = storable::nul_in_json(&value)?;
    Some(if path.is_empty() {
        "request body".to_owned()
    } else {
        path
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_name_the_field_and_look_alikes_pass() {
        assert_eq!(
            nul_in_json_body(br#"{"metadata": {"name": "a\u0000"}}"#).as_deref(),
            Some("metadata.name")
        );
        assert_eq!(
            nul_in_json_body(br#""\u0000""#).as_deref(),
            Some("request body")
        );
        assert_eq!(nul_in_json_body(br#"{"name": "a\\u0000"}"#), None);
        assert_eq!(nul_in_json_body(br#"{"name": "plain"}"#), None);
        assert_eq!(nul_in_json_body(br#"{"name": "\u0000"#), None, "not JSON");
    }
}

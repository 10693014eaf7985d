//! Webhook subscriptions over real HTTP against a real PostgreSQL: the safe view, encryption at
//! rest, refusal without a key, validation (URL, destination policy, event types, ranges),
//! clearable fields on update, admin-only access, audit entries, and the delivery listing.

mod common;

use brokkr_schema::crypto::{EncryptionKey, Keyring, context};
use brokkr_schema::events::EVENT_TYPES;
use brokkr_schema::store::webhooks::subscriptions;
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";
const URL: &str = "https://hooks.example.com/brokkr/T0KEN-in-the-path";
const AUTH: &str = "Bearer receiver-token-0123456789";
const SECRET: &str = "whsec-signing-secret-abcdef";
const NO_KEY: &str = "webhook encryption is not configured: set broker.webhook_encryption_key (64 hex characters; deploy/local-stack.sh generates one)";

async fn broker() -> TestBroker {
    TestBroker::start_with(|s| s.broker.webhook_encryption_key = Some(KEY.into())).await
}

fn keyring() -> Keyring {
    Keyring::new(EncryptionKey::from_hex(KEY).unwrap(), vec![])
}

fn full_body(name: &str) -> Value {
    json!({
        "name": name,
        "url": URL,
        "auth_header": AUTH,
        "secret": SECRET,
        "event_types": ["stack.*", "agent.registered"],
        "filters": {"labels": {"env": "prod"}},
        "max_retries": 3,
        "timeout_seconds": 10,
        "target_labels": ["region:eu"],
    })
}

/// Asserts that no secret (nor the URL) appears anywhere in `v`.
fn assert_safe(v: &Value) {
    let text = v.to_string();
    for secret in [URL, "T0KEN-in-the-path", "hooks.example.com", AUTH, SECRET] {
        assert!(!text.contains(secret), "{secret:?} leaked in {text}");
    }
}

async fn create(b: &TestBroker, body: Value) -> Value {
    let (s, v) = b.post("/api/v1/webhooks", &b.admin, body).await;
    assert_eq!(s, StatusCode::CREATED, "create webhook: {v}");
    v
}

async fn audit_rows(
    b: &TestBroker,
) -> Vec<(String, String, Option<uuid::Uuid>, Option<String>, Value)> {
    let mut conn = b.db.connect().await;
    sqlx::query_as(
        "SELECT action, actor_type, resource_id, ip_address, details FROM audit_logs
          WHERE resource_type = 'webhook' ORDER BY timestamp, id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn create_list_get_update_delete_never_show_secrets() {
    let b = broker().await;
    let created = create(&b, full_body("ci")).await;
    assert_safe(&created);
    assert_eq!(created["name"], "ci");
    assert_eq!(created["has_url"], true);
    assert_eq!(created["has_auth_header"], true);
    assert_eq!(created["has_secret"], true);
    assert_eq!(
        created["event_types"],
        json!(["stack.*", "agent.registered"])
    );
    assert_eq!(created["filters"], json!({"labels": {"env": "prod"}}));
    assert_eq!(created["target_labels"], json!(["region:eu"]));
    assert_eq!(created["enabled"], true);
    assert_eq!(created["max_retries"], 3);
    assert_eq!(created["timeout_seconds"], 10);
    assert_eq!(created["created_by"], "admin");
    for field in ["url", "auth_header", "secret", "url_encrypted"] {
        assert!(created.get(field).is_none(), "{field} in {created}");
    }
    let id = id_of(&created);

    // Defaults.
    let minimal = create(
        &b,
        json!({"name": "min", "url": "http://hooks.example.org/x", "event_types": ["*"]}),
    )
    .await;
    assert_eq!(minimal["max_retries"], 5);
    assert_eq!(minimal["timeout_seconds"], 30);
    assert_eq!(minimal["has_auth_header"], false);
    assert_eq!(minimal["has_secret"], false);
    assert_eq!(minimal["filters"], Value::Null);

    let (s, list) = b.get("/api/v1/webhooks", &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_safe(&list);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_eq!(list[0]["id"], created["id"]);

    let (s, got) = b.get(&format!("/api/v1/webhooks/{id}"), &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_safe(&got);
    assert_eq!(got["name"], "ci");

    let (s, updated) = b
        .put(
            &format!("/api/v1/webhooks/{id}"),
            &b.admin,
            json!({"name": "ci-2", "enabled": false, "max_retries": 0}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{updated}");
    assert_safe(&updated);
    assert_eq!(updated["name"], "ci-2");
    assert_eq!(updated["enabled"], false);
    assert_eq!(updated["max_retries"], 0);
    // Absent fields are kept.
    assert_eq!(updated["has_auth_header"], true);
    assert_eq!(updated["has_secret"], true);
    assert_eq!(updated["target_labels"], json!(["region:eu"]));
    assert_eq!(updated["filters"], json!({"labels": {"env": "prod"}}));

    let (s, v) = b.delete(&format!("/api/v1/webhooks/{id}"), &b.admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, v) = b.get(&format!("/api/v1/webhooks/{id}"), &b.admin).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["error"], "Webhook subscription not found");
    assert_eq!(b.count("webhook_subscriptions").await, 1);
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest_and_decrypt_with_the_keyring() {
    let b = broker().await;
    let id = id_of(&create(&b, full_body("enc")).await);
    let mut conn = b.db.connect().await;
    let (url, auth, secret): (Vec<u8>, Option<Vec<u8>>, Option<Vec<u8>>) = sqlx::query_as(
        "SELECT url_encrypted, auth_header_encrypted, secret_encrypted
           FROM webhook_subscriptions WHERE id = $1::uuid",
    )
    .bind(&id)
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let (auth, secret) = (auth.unwrap(), secret.unwrap());
    for (stored, plain) in [(&url, URL), (&auth, AUTH), (&secret, SECRET)] {
        assert!(
            !stored.windows(plain.len()).any(|w| w == plain.as_bytes()),
            "plaintext stored"
        );
        assert_eq!(stored[0], 0x02, "versioned envelope");
        assert_eq!(&stored[1..9], &keyring().current().id(), "names the key");
    }
    let ring = keyring();
    assert_eq!(
        ring.decrypt_string(context::WEBHOOK_URL, &url).unwrap(),
        URL
    );
    assert_eq!(
        ring.decrypt_string(context::WEBHOOK_AUTH_HEADER, &auth)
            .unwrap(),
        AUTH
    );
    assert_eq!(
        ring.decrypt_string(context::WEBHOOK_SECRET, &secret)
            .unwrap(),
        SECRET
    );
    // Bound to its column: the URL's ciphertext is not a valid secret.
    assert!(ring.decrypt(context::WEBHOOK_SECRET, &url).is_err());
}

#[tokio::test]
async fn a_generated_secret_is_returned_once_and_stored_encrypted() {
    let b = broker().await;
    let mut body = full_body("generated");
    body.as_object_mut().unwrap().remove("secret");
    body["generate_secret"] = json!(true);
    let created = create(&b, body.clone()).await;
    let secret = created["secret"].as_str().unwrap_or_default().to_owned();
    // whsec_ + base64 of 32 bytes (44 characters with padding).
    let key = secret.strip_prefix("whsec_").unwrap_or_default();
    assert!(
        key.len() == 44
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c)),
        "{created}"
    );
    assert_eq!(created["has_secret"], json!(true));
    let id = id_of(&created);
    // Never again: not when read, not when listed.
    let (_, got) = b.get(&format!("/api/v1/webhooks/{id}"), &b.admin).await;
    let (_, listed) = b.get("/api/v1/webhooks", &b.admin).await;
    for v in [&got, &listed] {
        assert!(!v.to_string().contains(&secret), "{v}");
    }
    let mut conn = b.db.connect().await;
    let (stored,): (Vec<u8>,) =
        sqlx::query_as("SELECT secret_encrypted FROM webhook_subscriptions WHERE id = $1::uuid")
            .bind(&id)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        keyring()
            .decrypt_string(context::WEBHOOK_SECRET, &stored)
            .unwrap(),
        secret
    );
    // A secret of one's own stays the key, and is not echoed.
    let own = create(&b, full_body("own")).await;
    assert!(own.get("secret").is_none(), "{own}");
    // Not both.
    body["secret"] = json!(SECRET);
    body["name"] = json!("both");
    let (s, v) = b.post("/api/v1/webhooks", &b.admin, body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn rotation_reencrypts_values_written_under_the_previous_key() {
    let b = broker().await;
    let id = id_of(&create(&b, full_body("rot")).await);
    let new_key = EncryptionKey::generate();
    let rotated = Keyring::new(new_key.clone(), vec![EncryptionKey::from_hex(KEY).unwrap()]);
    let mut conn = b.db.connect().await;
    let done = subscriptions::reencrypt(&mut conn, &rotated).await.unwrap();
    assert_eq!(done.rewritten, 1);
    assert!(done.unreadable.is_empty());
    // Idempotent: nothing is left under the old key.
    let again = subscriptions::reencrypt(&mut conn, &rotated).await.unwrap();
    assert_eq!(again.rewritten, 0);
    let sub = subscriptions::get(&mut conn, id.parse().unwrap())
        .await
        .unwrap();
    let only_new = Keyring::new(new_key, vec![]);
    assert_eq!(
        only_new
            .decrypt_string(context::WEBHOOK_URL, &sub.url_encrypted)
            .unwrap(),
        URL
    );
    assert_eq!(
        only_new
            .decrypt_string(
                context::WEBHOOK_SECRET,
                sub.secret_encrypted.as_deref().unwrap()
            )
            .unwrap(),
        SECRET
    );
    // The old key alone can no longer read it.
    assert!(
        keyring()
            .decrypt(context::WEBHOOK_URL, &sub.url_encrypted)
            .is_err()
    );
}

#[tokio::test]
async fn without_a_key_secrets_are_refused_and_the_reason_is_given() {
    let b = TestBroker::start().await;
    let (s, v) = b
        .post("/api/v1/webhooks", &b.admin, full_body("nokey"))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], NO_KEY);
    assert_eq!(b.count("webhook_subscriptions").await, 0);
    assert!(audit_rows(&b).await.is_empty());
    // Reading still works.
    let (s, v) = b.get("/api/v1/webhooks", &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!([]));
}

#[tokio::test]
async fn invalid_subscriptions_are_refused_and_nothing_is_written() {
    let b = broker().await;
    let base = json!({"name": "v", "url": "https://hooks.example.com/x", "event_types": ["*"]});
    let with = |patch: Value| {
        let mut body = base.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(json!({"url": "ftp://hooks.example.com/x"})),
            "http:// or https://",
        ),
        (
            with(json!({"url": "hooks.example.com/x"})),
            "http:// or https://",
        ),
        (with(json!({"url": ""})), "URL is required"),
        (
            with(json!({"url": "https://user:pw@hooks.example.com/"})),
            "credentials",
        ),
        (
            with(json!({"url": format!("https://hooks.example.com/{}", "a".repeat(2100))})),
            "2048",
        ),
        (with(json!({"url": "http://127.0.0.1:9000/"})), "loopback"),
        (with(json!({"url": "http://localhost:9000/"})), "loopback"),
        (with(json!({"url": "http://10.1.2.3/"})), "private"),
        (with(json!({"url": "http://192.168.1.10/"})), "private"),
        (with(json!({"url": "http://[fd00::1]/"})), "private"),
        (
            with(json!({"url": "http://169.254.169.254/latest"})),
            "link-local",
        ),
        (
            with(json!({"url": "http://100.64.0.1/"})),
            "carrier-grade NAT",
        ),
        (with(json!({"url": "http://224.0.0.1/"})), "multicast"),
        (with(json!({"url": "http://0.0.0.0/"})), "unspecified"),
        (with(json!({"event_types": []})), "At least one event type"),
        (
            with(json!({"event_types": ["stack.exploded"]})),
            "unknown event type",
        ),
        (
            with(json!({"event_types": ["nothing.*"]})),
            "unknown event type",
        ),
        (with(json!({"name": "  "})), "name"),
        (with(json!({"name": "n".repeat(256)})), "255"),
        (with(json!({"max_retries": 21})), "max_retries"),
        (with(json!({"max_retries": -1})), "max_retries"),
        (with(json!({"timeout_seconds": 0})), "timeout_seconds"),
        (with(json!({"timeout_seconds": 301})), "timeout_seconds"),
        (with(json!({"secret": "too-short"})), "secret"),
        (
            with(json!({"auth_header": "Bearer x\r\nX-Injected: 1"})),
            "auth_header",
        ),
        (with(json!({"target_labels": []})), "target_labels"),
        (with(json!({"target_labels": ["has space"]})), "whitespace"),
        (with(json!({"filters": {"stackid": "x"}})), ""),
        (with(json!({"filters": {"agent_id": "not-a-uuid"}})), ""),
        (
            with(json!({"filters": {"labels": {"env": ""}}})),
            "filters.labels",
        ),
    ];
    for (body, expect) in cases {
        let (s, v) = b.post("/api/v1/webhooks", &b.admin, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {v}");
        let message = v["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(expect),
            "{body}: {message:?} should mention {expect:?}"
        );
        assert!(
            !message.contains("hooks.example.com"),
            "URL echoed: {message}"
        );
    }
    assert_eq!(b.count("webhook_subscriptions").await, 0);
    assert!(audit_rows(&b).await.is_empty());
}

#[tokio::test]
async fn allowed_networks_admit_otherwise_refused_destinations() {
    let b = TestBroker::start_with(|s| {
        s.broker.webhook_encryption_key = Some(KEY.into());
        s.webhooks.allowed_networks = vec!["127.0.0.0/8".into()];
    })
    .await;
    for url in ["http://127.0.0.1:9000/hook", "http://localhost:9000/hook"] {
        let (s, v) = b
            .post(
                "/api/v1/webhooks",
                &b.admin,
                json!({"name": "local", "url": url, "event_types": ["*"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{url}: {v}");
    }
    let (s, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "lan", "url": "http://10.0.0.1/", "event_types": ["*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("webhooks.allowed_networks")
    );
}

#[tokio::test]
async fn updates_revalidate_and_distinguish_absent_from_null() {
    let b = broker().await;
    let id = id_of(&create(&b, full_body("upd")).await);
    let path = format!("/api/v1/webhooks/{id}");
    let (_, before) = b.get(&path, &b.admin).await;

    for (body, expect) in [
        (
            json!({"url": "ftp://hooks.example.com/"}),
            "http:// or https://",
        ),
        (json!({"url": "http://10.0.0.7/"}), "private"),
        (json!({"url": "http://[::1]:80/"}), "loopback"),
        (json!({"event_types": []}), "At least one event type"),
        (json!({"event_types": ["bogus"]}), "unknown event type"),
        (json!({"timeout_seconds": 1000}), "timeout_seconds"),
        (json!({"secret": "short"}), "secret"),
        (json!({"name": ""}), "name"),
        (json!({"target_labels": []}), "target_labels"),
    ] {
        let (s, v) = b.put(&path, &b.admin, body.clone()).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body} -> {v}");
        assert!(
            v["error"].as_str().unwrap().contains(expect),
            "{body} -> {v}"
        );
    }
    let (_, after) = b.get(&path, &b.admin).await;
    assert_eq!(before, after, "refused updates change nothing");

    // null clears; a new URL is re-encrypted.
    let (s, v) = b
        .put(
            &path,
            &b.admin,
            json!({"auth_header": null, "secret": null, "filters": null, "target_labels": null,
                   "url": "https://other.example.net/hook", "event_types": ["deployment.*"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["has_auth_header"], false);
    assert_eq!(v["has_secret"], false);
    assert_eq!(v["filters"], Value::Null);
    assert_eq!(v["target_labels"], Value::Null);
    assert_eq!(v["event_types"], json!(["deployment.*"]));
    assert!(!v.to_string().contains("other.example.net"));
    let mut conn = b.db.connect().await;
    let sub = subscriptions::get(&mut conn, id.parse().unwrap())
        .await
        .unwrap();
    assert!(sub.auth_header_encrypted.is_none() && sub.secret_encrypted.is_none());
    assert_eq!(
        keyring()
            .decrypt_string(context::WEBHOOK_URL, &sub.url_encrypted)
            .unwrap(),
        "https://other.example.net/hook"
    );

    // Values set them again.
    let (s, v) = b
        .put(
            &path,
            &b.admin,
            json!({"secret": SECRET, "auth_header": AUTH, "filters": {"stack_id": uuid::Uuid::nil()}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_safe(&v);
    assert_eq!(v["has_secret"], true);
    assert_eq!(v["has_auth_header"], true);
    assert_eq!(v["filters"], json!({"stack_id": uuid::Uuid::nil()}));
}

#[tokio::test]
async fn updating_secrets_without_a_key_is_refused_but_other_fields_change() {
    // A subscription stored while a key was configured, on a broker that now has none.
    let keyed = broker().await;
    let id = id_of(&create(&keyed, full_body("k")).await);
    let b = TestBroker::start().await;
    // Copy the row over to the key-less broker's database.
    let mut from = keyed.db.connect().await;
    let sub = subscriptions::get(&mut from, id.parse().unwrap())
        .await
        .unwrap();
    let mut to = b.db.connect().await;
    subscriptions::create(&mut to, &sub.fields(), Some("admin"))
        .await
        .unwrap();
    let (_, list) = b.get("/api/v1/webhooks", &b.admin).await;
    let path = format!("/api/v1/webhooks/{}", id_of(&list[0]));
    let (s, v) = b.put(&path, &b.admin, json!({"secret": SECRET})).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], NO_KEY);
    let (s, v) = b
        .put(&path, &b.admin, json!({"enabled": false, "secret": null}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["enabled"], false);
    assert_eq!(v["has_secret"], false);
}

#[tokio::test]
async fn only_the_admin_may_use_webhooks() {
    let b = broker().await;
    let id = id_of(&create(&b, full_body("adm")).await);
    let (_, agent_pak) = b.agent("a1").await;
    let (_, generator_pak) = b.generator("g1").await;
    let audited = audit_rows(&b).await.len();
    let calls: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/webhooks".into(), None),
        (
            Method::POST,
            "/api/v1/webhooks".into(),
            Some(full_body("x")),
        ),
        (Method::GET, "/api/v1/webhooks/event-types".into(), None),
        (Method::GET, format!("/api/v1/webhooks/{id}"), None),
        (
            Method::PUT,
            format!("/api/v1/webhooks/{id}"),
            Some(json!({"name": "taken"})),
        ),
        (Method::DELETE, format!("/api/v1/webhooks/{id}"), None),
        (
            Method::GET,
            format!("/api/v1/webhooks/{id}/deliveries"),
            None,
        ),
    ];
    for (method, path, body) in &calls {
        for pak in [&agent_pak, &generator_pak] {
            let (s, v) = b.call(method.clone(), path, Some(pak), body.clone()).await;
            assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}: {v}");
            assert_eq!(v["error"], "Admin access required");
        }
        let (s, _) = b.call(method.clone(), path, None, body.clone()).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{method} {path} without a key");
    }
    assert_eq!(
        audit_rows(&b).await.len(),
        audited,
        "refused calls write nothing"
    );
    let (_, v) = b.get(&format!("/api/v1/webhooks/{id}"), &b.admin).await;
    assert_eq!(v["name"], "adm");
}

#[tokio::test]
async fn unknown_subscriptions_are_404() {
    let b = broker().await;
    let missing = uuid::Uuid::new_v4();
    for (method, path, body) in [
        (Method::GET, format!("/api/v1/webhooks/{missing}"), None),
        (
            Method::PUT,
            format!("/api/v1/webhooks/{missing}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/webhooks/{missing}"), None),
        (
            Method::GET,
            format!("/api/v1/webhooks/{missing}/deliveries"),
            None,
        ),
    ] {
        let (s, v) = b.call(method.clone(), &path, Some(&b.admin), body).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {v}");
        assert_eq!(v["error"], "Webhook subscription not found");
    }
    let (s, _) = b.get("/api/v1/webhooks/not-a-uuid", &b.admin).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn event_types_are_listed() {
    let b = broker().await;
    let (s, v) = b.get("/api/v1/webhooks/event-types", &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let listed: Vec<String> = serde_json::from_value(v).unwrap();
    assert_eq!(listed, EVENT_TYPES);
    assert!(listed.iter().any(|t| t == "agent.registered"));
}

#[tokio::test]
async fn changes_are_audited_with_the_actor_and_without_secrets() {
    let b = broker().await;
    let id = id_of(&create(&b, full_body("aud")).await);
    let path = format!("/api/v1/webhooks/{id}");
    let (s, _) = b
        .put(&path, &b.admin, json!({"secret": null, "enabled": false}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = b.delete(&path, &b.admin).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let rows = audit_rows(&b).await;
    let actions: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        actions,
        ["webhook.created", "webhook.updated", "webhook.deleted"]
    );
    for (_, actor_type, resource_id, ip, details) in &rows {
        assert_eq!(actor_type, "admin");
        assert_eq!(resource_id.map(|r| r.to_string()), Some(id.clone()));
        assert_eq!(ip.as_deref(), Some("127.0.0.1"));
        assert_safe(details);
    }
    assert_eq!(
        rows[0].4["event_types"],
        json!(["stack.*", "agent.registered"])
    );
    assert_eq!(rows[1].4["enabled"], false);
    assert_eq!(rows[1].4["changed"], json!(["secret", "enabled"]));
    assert_eq!(rows[2].4["name"], "aud");
}

#[tokio::test]
async fn deliveries_queued_by_events_are_listed_with_filters_and_pages() {
    let b = broker().await;
    let sub = id_of(
        &create(
            &b,
            json!({"name": "stacks", "url": "https://hooks.example.com/s", "event_types": ["stack.*"]}),
        )
        .await,
    );
    // A subscription narrowed to another stack gets nothing.
    let narrowed = id_of(
        &create(
            &b,
            json!({"name": "other", "url": "https://hooks.example.com/o", "event_types": ["*"],
                   "filters": {"stack_id": uuid::Uuid::new_v4()}}),
        )
        .await,
    );
    let path = format!("/api/v1/webhooks/{sub}/deliveries");
    let (s, v) = b.get(&path, &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v, json!([]));

    let first = b.stack(&b.admin, "s1").await;
    let (s, v) = b.get(&path, &b.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    let d = &list[0];
    assert_eq!(d["subscription_id"], sub.as_str());
    assert_eq!(d["event_type"], "stack.created");
    assert_eq!(d["status"], "pending");
    assert_eq!(d["attempts"], 0);
    assert_eq!(d["payload"]["event_type"], "stack.created");
    assert_eq!(d["payload"]["data"]["stack_id"], first.as_str());
    assert_eq!(d["payload"]["id"], d["event_id"]);

    b.stack(&b.admin, "s2").await;
    b.stack(&b.admin, "s3").await;
    let (_, all) = b.get(&path, &b.admin).await;
    let names: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["payload"]["data"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["s3", "s2", "s1"], "newest first");
    let (_, page) = b.get(&format!("{path}?limit=2"), &b.admin).await;
    assert_eq!(page.as_array().unwrap().len(), 2);
    let (_, page) = b.get(&format!("{path}?limit=2&offset=2"), &b.admin).await;
    assert_eq!(page.as_array().unwrap().len(), 1);
    assert_eq!(page[0]["payload"]["data"]["name"], "s1");
    let (s, page) = b.get(&format!("{path}?limit=100000"), &b.admin).await;
    assert_eq!(s, StatusCode::OK, "a large limit is capped, not refused");
    assert_eq!(page.as_array().unwrap().len(), 3);
    let (_, pending) = b.get(&format!("{path}?status=pending"), &b.admin).await;
    assert_eq!(pending.as_array().unwrap().len(), 3);
    let (_, dead) = b.get(&format!("{path}?status=dead"), &b.admin).await;
    assert_eq!(dead, json!([]));
    for bad in ["status=bogus", "limit=0", "limit=-5", "offset=-1"] {
        let (s, v) = b.get(&format!("{path}?{bad}"), &b.admin).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }

    let (_, none) = b
        .get(&format!("/api/v1/webhooks/{narrowed}/deliveries"), &b.admin)
        .await;
    assert_eq!(none, json!([]));

    // Deleting the subscription deletes its deliveries.
    b.delete(&format!("/api/v1/webhooks/{sub}"), &b.admin).await;
    assert_eq!(b.count("webhook_deliveries").await, 0);
}

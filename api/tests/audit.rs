//! The audit log API and the audit of authentication failures.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn logs(b: &TestBroker, query: &str) -> Value {
    let (s, v) = b
        .get(&format!("/api/v1/admin/audit-logs{query}"), &b.admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{query}: {v}");
    v
}

fn actions(page: &Value) -> Vec<String> {
    page["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["action"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn audit_logs_filter_and_paginate_newest_first() {
    let b = TestBroker::start().await;
    let (gen_id, gen_pak) = b.generator("ci").await;
    let stack = b.stack(&gen_pak, "web").await;
    b.post(
        &format!("/api/v1/stacks/{stack}/labels"),
        &gen_pak,
        json!("env:prod"),
    )
    .await;
    let (agent, _) = b.agent("a1").await;
    let middle = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    b.target(&agent, &stack).await;

    let all = logs(&b, "").await;
    let mut listed = actions(&all);
    // The agent's creation and its registration with the system generator share a transaction
    // (and a timestamp): their order is not defined. (`b.agent` then activates it.)
    listed[3..5].sort();
    assert_eq!(
        listed,
        vec![
            "agent.target_added",
            "agent.registered",
            "agent.updated",
            "agent.created",
            "agent.registered",
            "stack.label_added",
            "stack.created",
            "generator.created"
        ]
    );
    assert_eq!(
        (all["total"].clone(), all["count"].clone()),
        (json!(8), json!(8))
    );
    assert_eq!(
        (all["limit"].clone(), all["offset"].clone()),
        (json!(100), json!(0))
    );
    let first = &all["logs"][0];
    assert_eq!(first["actor_type"], json!("admin"));
    assert_eq!(first["ip_address"], json!("127.0.0.1"));
    assert_eq!(first["details"]["stack_id"], json!(stack));

    let page = logs(&b, "?limit=2&offset=5").await;
    assert_eq!(actions(&page), vec!["stack.label_added", "stack.created"]);
    assert_eq!(
        (page["total"].clone(), page["count"].clone()),
        (json!(8), json!(2))
    );

    let by_gen = logs(&b, &format!("?actor_type=generator&actor_id={gen_id}")).await;
    assert_eq!(actions(&by_gen), vec!["stack.label_added", "stack.created"]);
    assert_eq!(
        actions(&logs(&b, "?action=stack.*").await),
        vec!["stack.label_added", "stack.created"]
    );
    assert_eq!(
        actions(&logs(&b, "?action=stack.created").await),
        vec!["stack.created"]
    );
    assert_eq!(
        actions(&logs(&b, "?action=stack").await),
        Vec::<String>::new()
    );
    let by_resource = logs(&b, &format!("?resource_type=stack&resource_id={stack}")).await;
    assert_eq!(
        actions(&by_resource),
        vec!["stack.label_added", "stack.created"]
    );
    let since = urlencode(&middle.to_rfc3339());
    assert_eq!(
        actions(&logs(&b, &format!("?from={since}")).await),
        vec!["agent.target_added", "agent.registered"]
    );
    assert_eq!(logs(&b, &format!("?to={since}")).await["total"], json!(6));
    assert_eq!(logs(&b, "?limit=5000").await["limit"], json!(1000));

    for bad in [
        "?limit=0",
        "?offset=-1",
        "?actor_id=nope",
        "?from=yesterday",
    ] {
        let (s, v) = b
            .get(&format!("/api/v1/admin/audit-logs{bad}"), &b.admin)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {v}");
    }
    let (s, _) = b.get("/api/v1/admin/audit-logs", &gen_pak).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

fn urlencode(s: &str) -> String {
    s.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test]
async fn authentication_failures_are_audited_within_a_rate_limit() {
    let b = TestBroker::start().await;
    for i in 0..20 {
        let key = if i % 2 == 0 {
            "garbage".to_owned()
        } else {
            format!("brokkr_BRxxxxxxxx_{}", "y".repeat(24))
        };
        let resp = b
            .client
            .get(format!("{}/api/v1/agents", b.base))
            .header("Authorization", key)
            .header("User-Agent", "scanner/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    let failed = loop {
        let page = logs(&b, "?action=auth.failed").await;
        if page["total"] == json!(5) || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        failed["total"],
        json!(5),
        "5 failures per address per minute are recorded: {failed}"
    );
    let entry = &failed["logs"][0];
    assert_eq!(entry["actor_type"], json!("system"));
    assert_eq!(entry["ip_address"], json!("127.0.0.1"));
    assert_eq!(entry["user_agent"], json!("scanner/1.0"));
    assert!(
        !failed.to_string().contains("garbage"),
        "keys are never stored"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(logs(&b, "?action=auth.failed").await["total"], json!(5));
    let metrics = b
        .client
        .get(format!("{}/metrics", b.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("brokkr_auth_failures_total{reason=\"malformed_key\"} 10"),
        "{metrics}"
    );
    assert!(metrics.contains("brokkr_auth_failures_total{reason=\"unknown_key\"} 10"));
}

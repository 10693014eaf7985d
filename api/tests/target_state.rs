//! Target state: association rules, modes, ETags and 304s, long-poll wake-ups, deletion markers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// GET target-state with optional If-None-Match and wait; returns (status, etag, body, elapsed).
async fn poll(
    b: &TestBroker,
    agent: &str,
    pak: &str,
    query: &str,
    etag: Option<&str>,
) -> (StatusCode, String, Value, Duration) {
    let mut req = b
        .client
        .get(format!(
            "{}/api/v1/agents/{agent}/target-state{query}",
            b.base
        ))
        .header("Authorization", format!("Bearer {pak}"));
    if let Some(e) = etag {
        req = req.header("If-None-Match", e);
    }
    let started = Instant::now();
    let resp = req.send().await.expect("poll sent");
    let status = resp.status();
    let etag = resp
        .headers()
        .get("etag")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let text = resp.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, etag, body, started.elapsed())
}

fn ids(body: &Value) -> Vec<String> {
    body.as_array().unwrap().iter().map(id_of).collect()
}

#[tokio::test]
async fn target_state_is_the_latest_object_of_each_associated_stack_newest_first() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let (agent, pak) = b.agent("a1").await;
    let by_target = b.stack(&gen_pak, "by-target").await;
    let by_label = b.stack(&gen_pak, "by-label").await;
    let by_annotation = b.stack(&gen_pak, "by-annotation").await;
    let unrelated = b.stack(&gen_pak, "unrelated").await;
    b.target(&agent, &by_target).await;
    b.post(
        &format!("/api/v1/stacks/{by_label}/labels"),
        &gen_pak,
        json!("env:prod"),
    )
    .await;
    b.post(
        &format!("/api/v1/agents/{agent}/labels"),
        &b.admin,
        json!("env:prod"),
    )
    .await;
    b.post(
        &format!("/api/v1/stacks/{by_annotation}/annotations"),
        &gen_pak,
        json!({"key": "region", "value": "eu"}),
    )
    .await;
    b.post(
        &format!("/api/v1/agents/{agent}/annotations"),
        &b.admin,
        json!({"key": "region", "value": "eu"}),
    )
    .await;
    // A different annotation value does not associate.
    b.post(
        &format!("/api/v1/stacks/{unrelated}/annotations"),
        &gen_pak,
        json!({"key": "region", "value": "us"}),
    )
    .await;
    let _old = b.deploy(&gen_pak, &by_target, &namespace_yaml("old")).await;
    let t = b.deploy(&gen_pak, &by_target, &namespace_yaml("t")).await;
    let l = b.deploy(&gen_pak, &by_label, &namespace_yaml("l")).await;
    let a = b
        .deploy(&gen_pak, &by_annotation, &namespace_yaml("a"))
        .await;
    b.deploy(&gen_pak, &unrelated, &namespace_yaml("u")).await;

    let (status, etag, body, _) = poll(&b, &agent, &pak, "", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        etag.starts_with('"') && etag.len() > 10,
        "strong ETag expected, got {etag:?}"
    );
    assert_eq!(ids(&body), vec![id_of(&a), id_of(&l), id_of(&t)]);

    let (s, stacks) = b.get(&format!("/api/v1/agents/{agent}/stacks"), &pak).await;
    assert_eq!(s, StatusCode::OK);
    let mut names: Vec<&str> = stacks
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["by-annotation", "by-label", "by-target"]);

    // Incremental mode drops what the agent reported on; full mode keeps it.
    let (s, v) = b
        .post(
            &format!("/api/v1/agents/{agent}/events"),
            &pak,
            json!({"agent_id": agent, "deployment_object_id": id_of(&t), "event_type": "DEPLOY", "status": "SUCCESS", "message": "applied"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, _, body, _) = poll(&b, &agent, &pak, "", None).await;
    assert_eq!(ids(&body), vec![id_of(&a), id_of(&l)]);
    let (_, _, body, _) = poll(&b, &agent, &pak, "?mode=full", None).await;
    assert_eq!(ids(&body), vec![id_of(&a), id_of(&l), id_of(&t)]);
}

#[tokio::test]
async fn matching_etag_answers_304_without_the_database_until_something_changes() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let (agent, pak) = b.agent("a1").await;
    let stack = b.stack(&gen_pak, "web").await;
    b.target(&agent, &stack).await;
    b.deploy(&gen_pak, &stack, &namespace_yaml("one")).await;
    // Each change above is applied to this replica's versions twice: at commit and when its
    // notification arrives. Wait for the notifications (stack created and deployment object:
    // 2 × 2 stack bumps; target: 2 agent bumps), or a late one would legitimately invalidate
    // the cached ETag in the middle of the measurement.
    let agent_id: uuid::Uuid = agent.parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, stacks, agent_counter) = b.state.propagation.version(agent_id);
        if stacks >= 4 && agent_counter >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "notifications not applied: stacks {stacks}, agent {agent_counter}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let (s, etag, _, _) = poll(&b, &agent, &pak, "", None).await;
    assert_eq!(s, StatusCode::OK);
    let queries_before = target_state_queries(&b).await;
    for _ in 0..20 {
        let (s, e, body, _) = poll(&b, &agent, &pak, "", Some(&etag)).await;
        assert_eq!(s, StatusCode::NOT_MODIFIED);
        assert_eq!(e, etag);
        assert!(body.is_null(), "304 has no body");
    }
    assert_eq!(
        target_state_queries(&b).await,
        queries_before,
        "304 answers must not query the database"
    );
    // Weak form and lists are understood.
    let (s, _, _, _) = poll(&b, &agent, &pak, "", Some(&format!("\"nope\", W/{etag}"))).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);

    let new = b.deploy(&gen_pak, &stack, &namespace_yaml("two")).await;
    let (s, etag2, body, _) = poll(&b, &agent, &pak, "", Some(&etag)).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a new deployment object must change the answer at once"
    );
    assert_ne!(etag2, etag);
    assert_eq!(ids(&body), vec![id_of(&new)]);
}

async fn target_state_queries(b: &TestBroker) -> u64 {
    let text = b
        .client
        .get(format!("{}/metrics", b.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("brokkr_database_queries_total{query_type=\"target_state\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Starts a long poll, performs `change`, and asserts the poll returned 200 soon after.
async fn assert_wakes(
    b: &TestBroker,
    agent: &str,
    pak: &str,
    what: &str,
    change: impl std::future::Future<Output = ()>,
) {
    let (_, etag, _, _) = poll(b, agent, pak, "", None).await;
    let waiting = async {
        let answer = poll(b, agent, pak, "?wait=30", Some(&etag)).await;
        (answer, Instant::now())
    };
    let changer = async {
        // Let the poll reach the broker and park before changing anything.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let started = Instant::now();
        change.await;
        (started, Instant::now())
    };
    let (((status, new_etag, _, _), answered), (started, committed)) =
        tokio::join!(waiting, changer);
    assert_eq!(
        status,
        StatusCode::OK,
        "{what}: long poll must answer 200 after the change"
    );
    assert_ne!(new_etag, etag, "{what}: new ETag expected");
    assert!(
        answered > started,
        "{what}: answered before the change began"
    );
    // The change is committed by the time its response arrives; the waiting agent must have
    // its answer within 100 ms of that.
    let wake = answered.saturating_duration_since(committed);
    assert!(
        wake < Duration::from_millis(100),
        "{what}: long poll answered {wake:?} after the change committed"
    );
    eprintln!(
        "{what}: change took {:?}; long poll answered {:?} after the change began",
        committed - started,
        answered - started
    );
}

#[tokio::test]
async fn the_open_long_polls_gauge_counts_polls_while_they_wait() {
    let b = TestBroker::start().await;
    let (agent, pak) = b.agent("a1").await;
    let (_, etag, _, _) = poll(&b, &agent, &pak, "", None).await;
    b.wait_metric("brokkr_http_long_polls_open", 0.0).await;
    let waiting = async {
        let first = poll(&b, &agent, &pak, "?wait=2", Some(&etag));
        let second = poll(&b, &agent, &pak, "?wait=2", Some(&etag));
        tokio::join!(first, second)
    };
    let watching = b.wait_metric("brokkr_http_long_polls_open", 2.0);
    let ((first, second), ()) = tokio::join!(waiting, watching);
    assert_eq!(first.0, StatusCode::NOT_MODIFIED);
    assert_eq!(second.0, StatusCode::NOT_MODIFIED);
    b.wait_metric("brokkr_http_long_polls_open", 0.0).await;
}

#[tokio::test]
async fn long_poll_wakes_on_each_kind_of_change() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let (agent, pak) = b.agent("a1").await;
    let s1 = b.stack(&gen_pak, "s1").await;
    let s2 = b.stack(&gen_pak, "s2").await;
    let s3 = b.stack(&gen_pak, "s3").await;
    b.deploy(&gen_pak, &s1, &namespace_yaml("s1")).await;
    b.deploy(&gen_pak, &s2, &namespace_yaml("s2")).await;
    b.deploy(&gen_pak, &s3, &namespace_yaml("s3")).await;

    assert_wakes(&b, &agent, &pak, "new target", async {
        b.target(&agent, &s1).await;
    })
    .await;
    assert_wakes(&b, &agent, &pak, "new deployment object", async {
        b.deploy(&gen_pak, &s1, &namespace_yaml("s1b")).await;
    })
    .await;
    b.post(
        &format!("/api/v1/stacks/{s2}/labels"),
        &gen_pak,
        json!("tier:web"),
    )
    .await;
    assert_wakes(&b, &agent, &pak, "agent label", async {
        let (s, _) = b
            .post(
                &format!("/api/v1/agents/{agent}/labels"),
                &b.admin,
                json!("tier:web"),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    })
    .await;
    b.post(
        &format!("/api/v1/agents/{agent}/labels"),
        &b.admin,
        json!("zone:a"),
    )
    .await;
    assert_wakes(&b, &agent, &pak, "stack label", async {
        let (s, _) = b
            .post(
                &format!("/api/v1/stacks/{s3}/labels"),
                &gen_pak,
                json!("zone:a"),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
    })
    .await;
    assert_wakes(
        &b,
        &agent,
        &pak,
        "stack deletion (deletion marker)",
        async {
            let (s, _) = b.delete(&format!("/api/v1/stacks/{s1}"), &gen_pak).await;
            assert_eq!(s, StatusCode::NO_CONTENT);
        },
    )
    .await;
}

#[tokio::test]
async fn long_poll_times_out_with_304_when_nothing_changes() {
    let b = TestBroker::start().await;
    let (agent, pak) = b.agent("a1").await;
    let (s, etag, _, _) = poll(&b, &agent, &pak, "", None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, e, _, took) = poll(&b, &agent, &pak, "?wait=1", Some(&etag)).await;
    assert_eq!(s, StatusCode::NOT_MODIFIED);
    assert_eq!(e, etag);
    assert!(took >= Duration::from_millis(900), "held only {took:?}");
    assert!(took < Duration::from_secs(5), "held {took:?}");
    // Another agent's change wakes nobody else into a 200.
    let (other, _) = b.agent("a2").await;
    let (_, gen_pak) = b.generator("ci").await;
    let stack = b.stack(&gen_pak, "other").await;
    b.deploy(&gen_pak, &stack, &namespace_yaml("x")).await;
    let waiting = poll(&b, &agent, &pak, "?wait=2", Some(&etag));
    let change = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        b.target(&other, &stack).await;
    };
    let ((s, _, _, took), ()) = tokio::join!(waiting, change);
    assert_eq!(
        s,
        StatusCode::NOT_MODIFIED,
        "unrelated change must not end the poll with a new state"
    );
    assert!(took >= Duration::from_millis(1900));
    let (s, v) = b
        .get(
            &format!("/api/v1/agents/{agent}/target-state?wait=61"),
            &pak,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
}

#[tokio::test]
async fn long_polls_answer_at_once_when_the_broker_shuts_down() {
    let b = TestBroker::start().await;
    let (agent, pak) = b.agent("a1").await;
    let (s, etag, _, _) = poll(&b, &agent, &pak, "", None).await;
    assert_eq!(s, StatusCode::OK);
    let waiting = poll(&b, &agent, &pak, "?wait=30", Some(&etag));
    let stop = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        b.begin_shutdown();
    };
    let ((s, e, _, took), ()) = tokio::join!(waiting, stop);
    assert_eq!(s, StatusCode::NOT_MODIFIED, "the poll is answered, not cut");
    assert_eq!(e, etag);
    // The drain (2 s in tests) does not wait for the poll's 30 s.
    assert!(
        took < Duration::from_millis(1500),
        "held {took:?} after SIGTERM"
    );
}

#[tokio::test]
async fn deleting_a_stack_leaves_a_deletion_marker_in_the_target_state() {
    let b = TestBroker::start().await;
    let (_, gen_pak) = b.generator("ci").await;
    let (agent, pak) = b.agent("a1").await;
    let stack = b.stack(&gen_pak, "web").await;
    b.target(&agent, &stack).await;
    let first = b.deploy(&gen_pak, &stack, &namespace_yaml("web")).await;
    let (s, _) = b.delete(&format!("/api/v1/stacks/{stack}"), &gen_pak).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, _, body, _) = poll(&b, &agent, &pak, "", None).await;
    let objects = body.as_array().unwrap();
    assert_eq!(objects.len(), 1);
    assert_eq!(objects[0]["is_deletion_marker"], json!(true));
    assert_eq!(objects[0]["stack_id"], json!(stack));
    assert!(objects[0]["sequence_id"].as_i64() > first["sequence_id"].as_i64());
    // The stack is gone for its owner.
    let (s, _) = b.get(&format!("/api/v1/stacks/{stack}"), &gen_pak).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Once the agent reports on the marker, incremental mode is empty.
    let (s, _) = b
        .post(
            &format!("/api/v1/agents/{agent}/events"),
            &pak,
            json!({"deployment_object_id": objects[0]["id"], "event_type": "DELETE", "status": "SUCCESS"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, _, body, _) = poll(&b, &agent, &pak, "", None).await;
    assert_eq!(body, json!([]));
}

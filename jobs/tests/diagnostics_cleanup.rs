//! The `diagnostic_cleanup` sweep: overdue requests expire, finished ones older than
//! `broker.diagnostic_max_age_hours` are removed with their results, fresh ones stay.

mod support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use support::common::*;
use support::*;

#[tokio::test]
async fn the_sweep_expires_overdue_requests_and_removes_old_finished_ones() {
    let b = keyed_broker().await;
    let agent = b.agent("cleanup-a").await;
    let g = b.generator("cleanup-g").await;
    let s = b.stack(&g.1, "cleanup-s").await;
    b.target(&agent.0, &s).await;
    let d = id_of(&b.deploy(&g.1, &s, &namespace_yaml("cleanup")).await);
    let mut ids = Vec::new();
    for _ in 0..4 {
        let (st, v) = b
            .post(
                &format!("/api/v1/deployment-objects/{d}/diagnostics"),
                &b.admin,
                json!({"agent_id": agent.0}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        ids.push(id_of(&v));
    }
    let [overdue, old_done, fresh_done, fresh_pending] = [&ids[0], &ids[1], &ids[2], &ids[3]];
    for id in [old_done, fresh_done] {
        b.post(
            &format!("/api/v1/diagnostics/{id}/claim"),
            &agent.1,
            json!(null),
        )
        .await;
        let (st, v) = b
            .post(
                &format!("/api/v1/diagnostics/{id}/result"),
                &agent.1,
                json!({"pod_statuses": "[]", "events": "[]", "collected_at": "2026-11-27T10:00:00Z"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    {
        let mut conn = b.db.connect().await;
        sqlx::query("UPDATE diagnostic_requests SET expires_at = now() - interval '1 minute' WHERE id = $1::uuid")
            .bind(overdue)
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("UPDATE diagnostic_requests SET completed_at = now() - interval '3 hours' WHERE id = $1::uuid")
            .bind(old_done)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let _w = start_worker_with(
        &b.db.url,
        &[
            ("BROKKR__BROKER__DIAGNOSTIC_CLEANUP_INTERVAL_SECONDS", "1"),
            ("BROKKR__BROKER__DIAGNOSTIC_MAX_AGE_HOURS", "2"),
        ],
    )
    .await;
    let status = |id: String| {
        let db = b.db.url.clone();
        async move {
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&db)
                .await
                .unwrap();
            sqlx::query_scalar::<_, String>(
                "SELECT status FROM diagnostic_requests WHERE id = $1::uuid",
            )
            .bind(id)
            .fetch_optional(&mut conn)
            .await
            .unwrap()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let overdue_status = status(overdue.clone()).await;
        let old = status(old_done.clone()).await;
        if overdue_status.as_deref() == Some("expired") && old.is_none() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after 20 s: overdue request {overdue_status:?} (expected expired), old one {old:?} (expected gone)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        status(fresh_done.clone()).await.as_deref(),
        Some("completed")
    );
    assert_eq!(
        status(fresh_pending.clone()).await.as_deref(),
        Some("pending")
    );
    assert_eq!(
        b.count("diagnostic_results").await,
        1,
        "the old result went with its request"
    );
}

//! Tenancy: an agent serves only the generators it registered with. The cross-tenant label case,
//! the `agent_not_registered` refusal of targets (for the admin too), registration endpoints and
//! who may call them, audit entries and events, deregistration withdrawing targets and changing
//! the target state at once, agent-side webhook claims, and the target-state query plan with the
//! registration filter on a loaded database.

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "8f3e2d1c0b0a99887766554433221100ffeeddccbbaa99887766554433221100";

/// Target state as `pak`: (status, ETag, withdrawn-stacks header, body).
async fn target_state(
    b: &TestBroker,
    agent: &str,
    pak: &str,
    etag: Option<&str>,
    wait: u64,
) -> (StatusCode, String, Option<String>, Value) {
    let mut req = b
        .client
        .get(format!(
            "{}/api/v1/agents/{agent}/target-state?mode=full&wait={wait}",
            b.base
        ))
        .header("Authorization", format!("Bearer {pak}"));
    if let Some(e) = etag {
        req = req.header("If-None-Match", e);
    }
    let resp = req.send().await.expect("target state");
    let status = resp.status();
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let etag = header("etag").unwrap_or_default();
    let withdrawn = header("x-brokkr-withdrawn-stacks");
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, etag, withdrawn, body)
}

fn stack_ids(objects: &Value) -> Vec<String> {
    objects
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["stack_id"].as_str().unwrap().to_owned())
        .collect()
}

fn ids(list: &Value) -> Vec<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_str().unwrap().to_owned())
        .collect()
}

/// A generator's stack with a label, an annotation and one deployment object.
async fn labelled_stack(b: &TestBroker, generator_pak: &str, name: &str) -> String {
    let s = b.stack(generator_pak, name).await;
    let (st, v) = b
        .post(
            &format!("/api/v1/stacks/{s}/labels"),
            generator_pak,
            json!("env=prod"),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    b.deploy(generator_pak, &s, &namespace_yaml(name)).await;
    s
}

async fn label_agent(b: &TestBroker, agent: &str, label: &str) {
    let (st, v) = b
        .post(
            &format!("/api/v1/agents/{agent}/labels"),
            &b.admin,
            json!(label),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_label_match_does_not_cross_tenants_until_the_agent_registers() {
    let b = TestBroker::start().await;
    let (ga, ga_pak) = b.generator("team-a").await;
    let (gb, gb_pak) = b.generator("team-b").await;
    let stack_a = labelled_stack(&b, &ga_pak, "a-app").await;
    let stack_b = labelled_stack(&b, &gb_pak, "b-app").await;
    let (agent, pak) = b.agent("prod-b").await;
    label_agent(&b, &agent, "env=prod").await;
    b.register(&agent, &gb).await;

    let (st, _, _, objects) = target_state(&b, &agent, &pak, None, 0).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(stack_ids(&objects), vec![stack_b.clone()], "{objects}");
    let (_, stacks) = b.get(&format!("/api/v1/agents/{agent}/stacks"), &pak).await;
    assert_eq!(ids(&stacks), vec![stack_b.clone()], "{stacks}");
    // Not through an annotation either.
    let (st, v) = b
        .post(
            &format!("/api/v1/stacks/{stack_a}/annotations"),
            &ga_pak,
            json!({"key": "region", "value": "eu"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = b
        .post(
            &format!("/api/v1/agents/{agent}/annotations"),
            &b.admin,
            json!({"key": "region", "value": "eu"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, _, _, objects) = target_state(&b, &agent, &pak, None, 0).await;
    assert_eq!(stack_ids(&objects), vec![stack_b.clone()], "{objects}");
    // Nor may the agent read A's stack or report on its objects.
    let (st, _) = b.get(&format!("/api/v1/stacks/{stack_a}"), &pak).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Once the agent registers with A (itself: its consent), A's stack reaches it.
    let (st, v) = b
        .post(
            &format!("/api/v1/generators/{ga}/register"),
            &pak,
            json!(null),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["generator_id"], json!(ga));
    assert_eq!(v["generator_name"], json!("team-a"));
    let (_, _, _, objects) = target_state(&b, &agent, &pak, None, 0).await;
    let mut got = stack_ids(&objects);
    got.sort();
    let mut want = vec![stack_a.clone(), stack_b.clone()];
    want.sort();
    assert_eq!(got, want, "{objects}");
    let (_, stacks) = b.get(&format!("/api/v1/agents/{agent}/stacks"), &pak).await;
    let mut got = ids(&stacks);
    got.sort();
    assert_eq!(got, want, "{stacks}");
}

#[tokio::test]
async fn targets_need_the_registration_even_for_the_admin() {
    let b = TestBroker::start().await;
    let (ga, ga_pak) = b.generator("team-a").await;
    let (gb, _) = b.generator("team-b").await;
    let stack = b.stack(&ga_pak, "a-app").await;
    let (agent, _) = b.agent("cluster-1").await;
    let audit_before = b.count("audit_logs").await;
    let (st, v) = b
        .post(
            &format!("/api/v1/agents/{agent}/targets"),
            &b.admin,
            json!({"stack_id": stack}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], json!("agent_not_registered"), "{v}");
    assert!(v["error"].as_str().unwrap().contains(&ga), "{v}");
    assert_eq!(b.count("agent_targets").await, 0);
    assert_eq!(b.count("audit_logs").await, audit_before);
    // Other errors carry no code.
    let (st, v) = b
        .get(
            &format!("/api/v1/agents/{}", uuid::Uuid::new_v4()),
            &b.admin,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(v.get("code").is_none(), "{v}");

    b.register(&agent, &ga).await;
    b.target(&agent, &stack).await;
    // The stack moves to a generator the agent never registered with: the target can no longer
    // be removed through the API by anyone but after registering (nor added again).
    let (st, v) = b
        .put(
            &format!("/api/v1/stacks/{stack}"),
            &b.admin,
            json!({"generator_id": gb}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, v) = b
        .delete(&format!("/api/v1/agents/{agent}/targets/{stack}"), &b.admin)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert_eq!(v["code"], json!("agent_not_registered"), "{v}");
    assert_eq!(b.count("agent_targets").await, 1);
    // And the moved stack no longer reaches the agent.
    let (_, stacks) = b
        .get(&format!("/api/v1/agents/{agent}/stacks"), &b.admin)
        .await;
    assert_eq!(stacks, json!([]));
    b.register(&agent, &gb).await;
    let (st, v) = b
        .delete(&format!("/api/v1/agents/{agent}/targets/{stack}"), &b.admin)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
}

#[tokio::test]
async fn registration_endpoints_answer_each_caller() {
    let b = TestBroker::start().await;
    let (g, g_pak) = b.generator("team-a").await;
    let (_, h_pak) = b.generator("team-b").await;
    let (a, a_pak) = b.agent("a").await;
    let (other, _) = b.agent("b").await;
    let path = format!("/api/v1/generators/{g}/register");

    // Generators never register agents; agents only themselves; the admin must name the agent.
    let (st, v) = b.post(&path, &g_pak, json!({"agent_id": a})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = b.post(&path, &a_pak, json!({"agent_id": other})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let (st, v) = b.post(&path, &b.admin, json!({})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    let (st, v) = b
        .post(
            &format!("/api/v1/generators/{}/register", uuid::Uuid::new_v4()),
            &b.admin,
            json!({"agent_id": a}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(b.count("agent_registrations").await, 2, "system only");

    let (st, v) = b.post(&path, &a_pak, json!({"agent_id": a})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // Again: nothing changes, no second event.
    let (st, _) = b.post(&path, &b.admin, json!({"agent_id": a})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        b.count("audit_logs WHERE action = 'agent.registered'")
            .await,
        3,
        "two agents with the system generator, one with team-a"
    );

    let (st, regs) = b
        .get(&format!("/api/v1/agents/{a}/registrations"), &a_pak)
        .await;
    assert_eq!(st, StatusCode::OK, "{regs}");
    let names: Vec<&str> = regs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["generator_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["__system__", "team-a"]);
    let (st, _) = b
        .get(&format!("/api/v1/agents/{a}/registrations"), &g_pak)
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let listing = format!("/api/v1/generators/{g}/registered-agents");
    let (st, agents) = b.get(&listing, &g_pak).await;
    assert_eq!(st, StatusCode::OK, "{agents}");
    assert_eq!(ids(&agents), vec![a.clone()]);
    assert_eq!(b.get(&listing, &h_pak).await.0, StatusCode::FORBIDDEN);
    assert_eq!(b.get(&listing, &a_pak).await.0, StatusCode::FORBIDDEN);
    assert_eq!(b.get(&listing, &b.admin).await.0, StatusCode::OK);

    // The system generator is not listed, and its name is reserved.
    let (_, generators) = b.get("/api/v1/generators", &b.admin).await;
    assert!(
        !generators.to_string().contains("__system__"),
        "{generators}"
    );
    let (st, _) = b
        .post(
            "/api/v1/generators",
            &b.admin,
            json!({"name": "__system__"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    // Deregistering: the same rules; an agent may leave with an empty body.
    let (st, _) = b
        .call(
            reqwest::Method::DELETE,
            &path,
            Some(&g_pak),
            Some(json!({"agent_id": a})),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = b.delete(&path, &a_pak).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (st, _) = b.delete(&path, &a_pak).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn agents_are_created_registered_with_the_system_generator_and_the_given_ones() {
    let b = TestBroker::start().await;
    let (g, _) = b.generator("team-a").await;
    let (st, v) = b
        .post(
            "/api/v1/agents",
            &b.admin,
            json!({"name": "x", "cluster_name": "c", "generator_ids": [g]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let agent = id_of(&v["agent"]);
    let (_, regs) = b
        .get(&format!("/api/v1/agents/{agent}/registrations"), &b.admin)
        .await;
    let gens: Vec<&str> = regs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["generator_id"].as_str().unwrap())
        .collect();
    assert_eq!(gens, vec!["00000000-0000-0000-0000-000000000000", &g]);
    // An unknown generator refuses the whole creation.
    let agents_before = b.count("agents").await;
    let (st, v) = b
        .post(
            "/api/v1/agents",
            &b.admin,
            json!({"name": "y", "cluster_name": "c", "generator_ids": [uuid::Uuid::new_v4()]}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(b.count("agents").await, agents_before);
}

#[tokio::test]
async fn registrations_are_audited_and_emit_events() {
    let b = TestBroker::start_with(|s| {
        s.broker.webhook_encryption_key = Some(KEY.into());
    })
    .await;
    let (st, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "watch", "url": "https://hooks.example.com/x",
                   "event_types": ["agent.registered", "agent.deregistered"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (g, _) = b.generator("team-a").await;
    let (a, a_pak) = b.agent("a").await;
    b.post(
        &format!("/api/v1/generators/{g}/register"),
        &a_pak,
        json!(null),
    )
    .await;
    let (st, _) = b
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/generators/{g}/register"),
            Some(&b.admin),
            Some(json!({"agent_id": a})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);

    let mut conn = b.db.connect().await;
    let audit: Vec<(String, String, Option<uuid::Uuid>, Value)> = sqlx::query_as(
        "SELECT action, actor_type, actor_id, details FROM audit_logs
          WHERE action IN ('agent.registered', 'agent.deregistered') ORDER BY timestamp, id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let summary: Vec<(&str, &str, Option<String>, &str)> = audit
        .iter()
        .map(|(action, actor, actor_id, d)| {
            (
                action.as_str(),
                actor.as_str(),
                actor_id.map(|i| i.to_string()),
                d["generator_id"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "agent.registered",
                "admin",
                None,
                "00000000-0000-0000-0000-000000000000"
            ),
            ("agent.registered", "agent", Some(a.clone()), g.as_str()),
            ("agent.deregistered", "admin", None, g.as_str()),
        ]
    );
    let events: Vec<(String, Value)> = sqlx::query_as(
        "SELECT event_type, payload FROM webhook_deliveries ORDER BY created_at, id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let got: Vec<(&str, &str)> = events
        .iter()
        .map(|(t, p)| (t.as_str(), p["data"]["generator_id"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("agent.registered", "00000000-0000-0000-0000-000000000000"),
            ("agent.registered", g.as_str()),
            ("agent.deregistered", g.as_str()),
        ]
    );
    assert_eq!(events[0].1["data"]["name"], json!("a"));
}

#[tokio::test]
async fn deregistration_removes_targets_and_changes_the_target_state_at_once() {
    let b = TestBroker::start().await;
    let (g, g_pak) = b.generator("team-a").await;
    let labelled = labelled_stack(&b, &g_pak, "by-label").await;
    let targeted = b.stack(&g_pak, "by-target").await;
    b.deploy(&g_pak, &targeted, &namespace_yaml("targeted"))
        .await;
    let fleet = labelled_stack(&b, &b.admin, "fleet-wide").await;
    let (agent, pak) = b.agent("cluster-1").await;
    label_agent(&b, &agent, "env=prod").await;
    b.target(&agent, &targeted).await;

    let (st, etag, withdrawn, objects) = target_state(&b, &agent, &pak, None, 0).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(withdrawn, None);
    assert_eq!(stack_ids(&objects).len(), 3, "{objects}");

    // A long poll waiting on the current state wakes up when the agent deregisters.
    let waiting = {
        let (client, base, pak, agent, etag) = (
            b.client.clone(),
            b.base.clone(),
            pak.clone(),
            agent.clone(),
            etag.clone(),
        );
        tokio::spawn(async move {
            let started = Instant::now();
            let resp = client
                .get(format!(
                    "{base}/api/v1/agents/{agent}/target-state?mode=full&wait=30"
                ))
                .header("Authorization", format!("Bearer {pak}"))
                .header("If-None-Match", etag)
                .send()
                .await
                .unwrap();
            (resp.status(), started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (st, v) = b
        .delete(&format!("/api/v1/generators/{g}/register"), &pak)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    let (status, elapsed) = waiting.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(
        elapsed < Duration::from_secs(20),
        "the long poll should wake at the change, it took {elapsed:?}"
    );

    // Targets on the generator's stacks went with the registration; the fleet-wide stack stays.
    let (_, targets) = b
        .get(&format!("/api/v1/agents/{agent}/targets"), &pak)
        .await;
    assert_eq!(targets, json!([]));
    let (st, new_etag, withdrawn, objects) = target_state(&b, &agent, &pak, Some(&etag), 0).await;
    assert_eq!(st, StatusCode::OK);
    assert_ne!(new_etag, etag);
    assert_eq!(stack_ids(&objects), vec![fleet.clone()]);
    let mut withdrawn: Vec<String> = withdrawn
        .expect("withdrawn stacks header")
        .split(',')
        .map(str::to_owned)
        .collect();
    withdrawn.sort();
    let mut want = vec![labelled.clone(), targeted.clone()];
    want.sort();
    assert_eq!(withdrawn, want);
    let (_, events) = b
        .get(
            "/api/v1/admin/audit-logs?action=agent.deregistered",
            &b.admin,
        )
        .await;
    assert_eq!(
        events["logs"][0]["details"]["removed_targets"],
        json!([targeted]),
        "{events}"
    );

    // Registering again ends the withdrawal (the label brings the stack back; the target does
    // not come back by itself).
    b.register(&agent, &g).await;
    let (_, _, withdrawn, objects) = target_state(&b, &agent, &pak, None, 0).await;
    assert_eq!(withdrawn, None);
    let mut got = stack_ids(&objects);
    got.sort();
    let mut want = vec![labelled, fleet];
    want.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn agent_side_webhooks_of_a_generator_go_only_to_its_registered_agents() {
    let b = TestBroker::start_with(|s| {
        s.broker.webhook_encryption_key = Some(KEY.into());
        s.webhooks.allowed_networks = vec!["10.0.0.0/8".into()];
    })
    .await;
    let (ga, ga_pak) = b.generator("team-a").await;
    let (agent, pak) = b.agent("in-cluster").await;
    label_agent(&b, &agent, "zone:a").await;
    let (st, v) = b
        .post(
            "/api/v1/webhooks",
            &b.admin,
            json!({"name": "in-cluster", "url": "http://10.1.2.3/hook",
                   "event_types": ["stack.created"], "target_labels": ["zone:a"]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    b.stack(&ga_pak, "team-a-app").await;
    b.stack(&b.admin, "fleet-app").await;
    let pending = format!("/api/v1/agents/{agent}/webhooks/pending");
    let (st, claimed) = b.get(&pending, &pak).await;
    assert_eq!(st, StatusCode::OK, "{claimed}");
    let names: Vec<&str> = claimed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["payload"]["data"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["fleet-app"], "{claimed}");
    b.register(&agent, &ga).await;
    let (_, claimed) = b.get(&pending, &pak).await;
    let names: Vec<&str> = claimed
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["payload"]["data"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["team-a-app"], "{claimed}");
}

/// With a fleet loaded (200 generators, 20,000 stacks with 100,000 deployment objects, 5,000
/// agents, each registered with about 10 generators and sharing a label and an annotation with
/// about 20 stacks) and fresh statistics, the target-state query with the registration filter
/// is served by indexes: no sequential scan of any table that grows with the fleet. (When one
/// agent is associated with a sizeable share of all stacks, the planner rightly prefers reading
/// the whole `stacks` table, with or without the filter.)
#[tokio::test]
async fn the_target_state_query_keeps_its_indexes() {
    let b = TestBroker::start().await;
    let mut conn = b.db.connect().await;
    sqlx::raw_sql(
        "INSERT INTO generators (name) SELECT 'g-' || n FROM generate_series(1, 200) n;
         INSERT INTO stacks (name, generator_id)
           SELECT 's-' || n, (SELECT id FROM generators WHERE name = 'g-' || (1 + n % 200))
             FROM generate_series(1, 20000) n;
         INSERT INTO stack_labels (stack_id, label)
           SELECT id, 'team-' || (abs(hashtext(id::text)) % 2000) FROM stacks;
         INSERT INTO stack_annotations (stack_id, key, value)
           SELECT id, 'region', 'r' || (abs(hashtext(id::text)) % 2000) FROM stacks;
         INSERT INTO deployment_objects (stack_id, yaml_content, yaml_checksum)
           SELECT s.id, 'a: ' || r, encode(sha256(convert_to(s.id::text || r, 'UTF8')), 'hex')
             FROM stacks s CROSS JOIN generate_series(1, 5) r;
         INSERT INTO agents (name, cluster_name, pak_hash)
           SELECT 'agent-' || n, 'c', md5(n::text) FROM generate_series(1, 5000) n;
         INSERT INTO agent_labels (agent_id, label)
           SELECT id, 'team-' || (abs(hashtext(id::text)) % 2000) FROM agents;
         INSERT INTO agent_annotations (agent_id, key, value)
           SELECT id, 'region', 'r' || (abs(hashtext(id::text)) % 2000) FROM agents;
         INSERT INTO agent_registrations (agent_id, generator_id)
           SELECT a.id, g.id FROM agents a
             JOIN generators g ON abs(hashtext(a.id::text || g.id::text)) % 20 = 0;
         INSERT INTO agent_targets (agent_id, stack_id)
           SELECT a.id, s.id FROM agents a
             JOIN LATERAL (SELECT id FROM stacks ORDER BY hashtext(a.id::text || id::text)
                            LIMIT 1) s ON TRUE
            WHERE abs(hashtext(a.id::text)) % 10 = 0;
         ANALYZE;",
    )
    .execute(&mut conn)
    .await
    .expect("load the fleet");
    let agent: uuid::Uuid = sqlx::query_scalar("SELECT agent_id FROM agent_registrations LIMIT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let sql = format!("EXPLAIN {}", brokkr_schema::store::target_state::QUERY);
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(agent)
        .bind(true)
        .fetch_all(&mut conn)
        .await
        .unwrap();
    let plan = plan.join("\n");
    println!("{plan}");
    for table in [
        "agent_registrations",
        "stacks",
        "deployment_objects",
        "stack_labels",
        "stack_annotations",
        "agent_labels",
        "agent_annotations",
        "agent_targets",
        "agent_events",
        "generators",
    ] {
        assert!(
            !plan.contains(&format!("Seq Scan on {table}")),
            "sequential scan of {table} in the target-state plan:\n{plan}"
        );
    }
    assert!(
        plan.contains("Index Only Scan using agent_registrations_")
            || plan.contains("Index Scan using agent_registrations_")
            || plan.contains("Bitmap Index Scan on agent_registrations_"),
        "the registration filter should use an index:\n{plan}"
    );
}

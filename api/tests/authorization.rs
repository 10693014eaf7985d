//! The authorization matrix: every route of the access policy (`brokkr_api::access::POLICY`)
//! called as the admin, the agent itself, another agent, the owning generator, another
//! generator, without a key and with a malformed key, expecting what the policy decides. Refused
//! calls must write nothing (the audit log, written with every change, stays as it was). A route
//! of the API without a rule, or a rule without a request here, fails.

mod common;

use brokkr_api::access::{self, Decision};
use common::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Webhook secrets at rest (the webhook routes need a key).
const KEY: &str = "5f1e2d3c4b5a69788796a5b4c3d2e1f00112233445566778899aabbccddeeff0";

async fn broker() -> TestBroker {
    TestBroker::start_with(|s| {
        s.broker.webhook_encryption_key = Some(KEY.into());
        s.webhooks.allowed_networks = vec!["127.0.0.0/8".into()];
    })
    .await
}

/// The world each call runs against.
struct Fixture {
    a: (String, String),
    b: (String, String),
    g: (String, String),
    h: (String, String),
    a_name: String,
    s: String,
    s2: String,
    d: String,
    e: String,
    /// Work orders targeting agent `a`: pending, claimed by `a`, finished (in the log).
    wo_pending: String,
    wo_claimed: String,
    wo_done: String,
    /// A pending diagnostic request for agent `a` on `d`.
    q: String,
    /// A claimed diagnostic request for agent `a` on `d`.
    qc: String,
    /// A template of g (with the stack's label and annotation) and a rollout of it.
    t: String,
    r: String,
    /// A webhook subscription, and a delivery of an agent-delivered one held by agent `a`.
    w: String,
    wd: String,
    /// A delivery of `w`, queued for the worker.
    wq: String,
}

async fn fixture(b: &TestBroker) -> Fixture {
    let n = uuid::Uuid::new_v4().simple().to_string();
    let a = b.agent(&format!("a-{n}")).await;
    let other = b.agent(&format!("b-{n}")).await;
    let g = b.generator(&format!("g-{n}")).await;
    let h = b.generator(&format!("h-{n}")).await;
    let s = b.stack(&g.1, &format!("s-{n}")).await;
    let s2 = b.stack(&g.1, &format!("s2-{n}")).await;
    b.target(&a.0, &s).await;
    let d = id_of(&b.deploy(&g.1, &s, &namespace_yaml("demo")).await);
    let (st, ev) = b
        .post(
            &format!("/api/v1/agents/{}/events", a.0),
            &a.1,
            json!({"deployment_object_id": d, "event_type": "DEPLOY", "status": "SUCCESS"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{ev}");
    for (path, body) in [
        (format!("/api/v1/agents/{}/labels", a.0), json!("env:prod")),
        (
            format!("/api/v1/agents/{}/annotations", a.0),
            json!({"key": "region", "value": "eu"}),
        ),
        (format!("/api/v1/stacks/{s}/labels"), json!("env:prod")),
        (
            format!("/api/v1/stacks/{s}/annotations"),
            json!({"key": "region", "value": "eu"}),
        ),
    ] {
        let (st, v) = b.post(&path, &b.admin, body).await;
        assert_eq!(st, StatusCode::OK, "{path}: {v}");
    }
    let mut work_orders = Vec::new();
    for _ in 0..3 {
        let (st, v) = b
            .post(
                "/api/v1/work-orders",
                &b.admin,
                json!({"work_type": "custom", "yaml_content": "a: 1", "targeting": {"agent_ids": [a.0]}}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        work_orders.push(id_of(&v));
    }
    for (order, done) in [(&work_orders[1], false), (&work_orders[2], true)] {
        let (st, v) = b
            .post(
                &format!("/api/v1/work-orders/{order}/claim"),
                &a.1,
                json!({"agent_id": a.0}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        if done {
            let (st, v) = b
                .post(
                    &format!("/api/v1/work-orders/{order}/complete"),
                    &a.1,
                    json!({"success": true}),
                )
                .await;
            assert_eq!(st, StatusCode::OK, "{v}");
        }
    }
    let mut requests = Vec::new();
    for _ in 0..2 {
        let (st, v) = b
            .post(
                &format!("/api/v1/deployment-objects/{d}/diagnostics"),
                &b.admin,
                json!({"agent_id": a.0}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        requests.push(id_of(&v));
    }
    let (st, v) = b
        .post(
            &format!("/api/v1/diagnostics/{}/claim", requests[1]),
            &a.1,
            json!(null),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (st, t) = b
        .post(
            "/api/v1/templates",
            &g.1,
            json!({
                "name": format!("t-{n}"),
                "template_content": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\n",
                "parameters_schema": r#"{"type":"object","properties":{"name":{"type":"string","default":"cm"}}}"#,
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let t = id_of(&t);
    for (path, body) in [
        (format!("/api/v1/templates/{t}/labels"), json!("env:prod")),
        (
            format!("/api/v1/templates/{t}/annotations"),
            json!({"key": "region", "value": "eu"}),
        ),
    ] {
        let (st, v) = b.post(&path, &g.1, body).await;
        assert_eq!(st, StatusCode::OK, "{path}: {v}");
    }
    let (st, r) = b
        .post(&format!("/api/v1/templates/{t}/rollout"), &g.1, json!(null))
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{r}");
    let (w, wd, wq) = webhooks(b, &a).await;
    Fixture {
        w,
        wd,
        wq,
        t,
        r: id_of(&r),
        q: requests[0].clone(),
        qc: requests[1].clone(),
        a_name: format!("a-{n}"),
        a,
        b: other,
        g,
        h,
        s,
        s2,
        d,
        e: id_of(&ev),
        wo_pending: work_orders[0].clone(),
        wo_claimed: work_orders[1].clone(),
        wo_done: work_orders[2].clone(),
    }
}

/// A subscription, the delivery of its ping, and the delivery of a ping of an agent-delivered
/// subscription that agent `a` holds.
async fn webhooks(b: &TestBroker, a: &(String, String)) -> (String, String, String) {
    let mut ids = Vec::new();
    for target_labels in [json!(null), json!(["env:prod"])] {
        let (st, v) = b
            .post(
                "/api/v1/webhooks",
                &b.admin,
                json!({"name": format!("w-{}", uuid::Uuid::new_v4().simple()),
                       "url": "http://127.0.0.1:9/hook", "event_types": ["webhook.disabled"],
                       "target_labels": target_labels}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        ids.push(id_of(&v));
    }
    let mut pings = Vec::new();
    for id in &ids {
        let (st, v) = b
            .post(
                &format!("/api/v1/webhooks/{id}/ping"),
                &b.admin,
                json!(null),
            )
            .await;
        assert_eq!(st, StatusCode::ACCEPTED, "{v}");
        pings.push(id_of(&v));
    }
    let delivery = pings[1].clone();
    let (st, held) = b
        .get(&format!("/api/v1/agents/{}/webhooks/pending", a.0), &a.1)
        .await;
    assert_eq!(st, StatusCode::OK, "{held}");
    let held: Vec<&str> = held
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_str())
        .collect();
    assert!(held.contains(&delivery.as_str()), "{held:?}");
    (ids[0].clone(), delivery, pings[0].clone())
}

impl Fixture {
    fn fill(&self, template: &str) -> String {
        template
            .replace("{a}", &self.a.0)
            .replace("{b}", &self.b.0)
            .replace("{g}", &self.g.0)
            .replace("{s2}", &self.s2)
            .replace("{s}", &self.s)
            .replace("{d}", &self.d)
            .replace("{e}", &self.e)
            .replace("{wo_pending}", &self.wo_pending)
            .replace("{wo_claimed}", &self.wo_claimed)
            .replace("{wo_done}", &self.wo_done)
            .replace("{qc}", &self.qc)
            .replace("{q}", &self.q)
            .replace("{t}", &self.t)
            .replace("{r}", &self.r)
            .replace("{wd}", &self.wd)
            .replace("{wq}", &self.wq)
            .replace("{w}", &self.w)
            .replace("{a_name}", &self.a_name)
            .replace("{uniq}", &uuid::Uuid::new_v4().simple().to_string())
    }

    fn body(&self, template: &Option<Value>) -> Option<Value> {
        template
            .as_ref()
            .map(|v| serde_json::from_str(&self.fill(&v.to_string())).unwrap())
    }

    /// PAK of caller `i`: admin, agent itself, other agent, owning generator, other generator.
    fn pak<'a>(&'a self, admin: &'a str, i: usize) -> &'a str {
        match i {
            0 => admin,
            1 => &self.a.1,
            2 => &self.b.1,
            3 => &self.g.1,
            _ => &self.h.1,
        }
    }
}

/// Audit entries of state changes (authentication failures are audited too, but change nothing).
const CHANGES: &str = "audit_logs WHERE action <> 'auth.failed'";

const CALLERS: [&str; 5] = [
    "admin",
    "agent itself",
    "other agent",
    "owning generator",
    "other generator",
];

/// A request exercising one route of the policy, and its status when allowed.
struct Row {
    /// The route as the policy names it (`METHOD /path` of the OpenAPI document).
    route: &'static str,
    method: Method,
    path: &'static str,
    body: Option<Value>,
    success: u16,
}

fn row(route: &'static str, path: &'static str, body: Option<Value>, success: u16) -> Row {
    let method = route.split_once(' ').map_or("", |(m, _)| m);
    Row {
        route,
        method: Method::from_bytes(method.as_bytes()).expect("a method"),
        path,
        body,
        success,
    }
}

impl Row {
    /// What the policy says each caller gets: the success status or the refusal's.
    fn expect(&self) -> [u16; 5] {
        let rule = access::rule_of_route(self.route)
            .unwrap_or_else(|| panic!("no rule in the access policy for {}", self.route));
        let decisions = [
            rule.admin,
            rule.agent[0],
            rule.agent[1],
            rule.generator[0],
            rule.generator[1],
        ];
        decisions.map(|d| match d {
            Decision::Allowed => self.success,
            Decision::Forbidden => 403,
            Decision::NotFound => 404,
        })
    }
}

fn rows() -> Vec<Row> {
    vec![
        row("POST /auth/pak", "/api/v1/auth/pak", None, 200),
        row("GET /agents", "/api/v1/agents", None, 200),
        row(
            "POST /agents",
            "/api/v1/agents",
            Some(json!({"name": "n-{uniq}", "cluster_name": "c"})),
            200,
        ),
        row(
            "GET /agents/search",
            "/api/v1/agents/search?name={a_name}&cluster_name=c1",
            None,
            200,
        ),
        row(
            "GET /agents/search",
            "/api/v1/agents/?name={a_name}&cluster_name=c1",
            None,
            200,
        ),
        row("GET /agents/{id}", "/api/v1/agents/{a}", None, 200),
        row(
            "PUT /agents/{id}",
            "/api/v1/agents/{a}",
            Some(json!({"status": "ACTIVE"})),
            200,
        ),
        row("DELETE /agents/{id}", "/api/v1/agents/{a}", None, 204),
        row(
            "GET /agents/{id}/events",
            "/api/v1/agents/{a}/events",
            None,
            200,
        ),
        row(
            "POST /agents/{id}/events",
            "/api/v1/agents/{a}/events",
            Some(
                json!({"deployment_object_id": "{d}", "event_type": "DEPLOY", "status": "FAILURE"}),
            ),
            200,
        ),
        row(
            "GET /agents/{id}/labels",
            "/api/v1/agents/{a}/labels",
            None,
            200,
        ),
        row(
            "POST /agents/{id}/labels",
            "/api/v1/agents/{a}/labels",
            Some(json!("tier:web")),
            200,
        ),
        row(
            "DELETE /agents/{id}/labels/{label}",
            "/api/v1/agents/{a}/labels/env:prod",
            None,
            204,
        ),
        row(
            "GET /agents/{id}/annotations",
            "/api/v1/agents/{a}/annotations",
            None,
            200,
        ),
        row(
            "POST /agents/{id}/annotations",
            "/api/v1/agents/{a}/annotations",
            Some(json!({"key": "k", "value": "v"})),
            200,
        ),
        row(
            "DELETE /agents/{id}/annotations/{key}",
            "/api/v1/agents/{a}/annotations/region",
            None,
            204,
        ),
        row(
            "GET /agents/{id}/targets",
            "/api/v1/agents/{a}/targets",
            None,
            200,
        ),
        row(
            "POST /agents/{id}/targets",
            "/api/v1/agents/{a}/targets",
            Some(json!({"stack_id": "{s2}"})),
            200,
        ),
        row(
            "DELETE /agents/{id}/targets/{stack_id}",
            "/api/v1/agents/{a}/targets/{s}",
            None,
            204,
        ),
        row(
            "POST /agents/{id}/heartbeat",
            "/api/v1/agents/{a}/heartbeat",
            None,
            204,
        ),
        row(
            "GET /agents/{id}/target-state",
            "/api/v1/agents/{a}/target-state",
            None,
            200,
        ),
        row(
            "GET /agents/{id}/stacks",
            "/api/v1/agents/{a}/stacks",
            None,
            200,
        ),
        row(
            "POST /agents/{id}/rotate-pak",
            "/api/v1/agents/{a}/rotate-pak",
            None,
            200,
        ),
        row("GET /agent-events", "/api/v1/agent-events", None, 200),
        row(
            "GET /agent-events/{id}",
            "/api/v1/agent-events/{e}",
            None,
            200,
        ),
        row("GET /generators", "/api/v1/generators", None, 200),
        row(
            "POST /generators",
            "/api/v1/generators",
            Some(json!({"name": "g-{uniq}"})),
            200,
        ),
        row("GET /generators/{id}", "/api/v1/generators/{g}", None, 200),
        row(
            "PUT /generators/{id}",
            "/api/v1/generators/{g}",
            Some(json!({"description": "changed"})),
            200,
        ),
        row(
            "DELETE /generators/{id}",
            "/api/v1/generators/{g}",
            None,
            204,
        ),
        row(
            "POST /generators/{id}/rotate-pak",
            "/api/v1/generators/{g}/rotate-pak",
            None,
            200,
        ),
        // Registrations: the admin or the agent itself decides; generators never do.
        row(
            "POST /generators/{id}/register",
            "/api/v1/generators/{g}/register",
            Some(json!({"agent_id": "{a}"})),
            200,
        ),
        row(
            "DELETE /generators/{id}/register",
            "/api/v1/generators/{g}/register",
            Some(json!({"agent_id": "{a}"})),
            204,
        ),
        row(
            "GET /agents/{id}/registrations",
            "/api/v1/agents/{a}/registrations",
            None,
            200,
        ),
        row(
            "GET /generators/{id}/registered-agents",
            "/api/v1/generators/{g}/registered-agents",
            None,
            200,
        ),
        row("GET /stacks", "/api/v1/stacks", None, 200),
        row(
            "POST /stacks",
            "/api/v1/stacks",
            Some(json!({"name": "s-{uniq}"})),
            200,
        ),
        row("GET /stacks/{id}", "/api/v1/stacks/{s}", None, 200),
        row(
            "PUT /stacks/{id}",
            "/api/v1/stacks/{s}",
            Some(json!({"description": "changed"})),
            200,
        ),
        row("DELETE /stacks/{id}", "/api/v1/stacks/{s}", None, 204),
        row(
            "GET /stacks/{id}/deployment-objects",
            "/api/v1/stacks/{s}/deployment-objects",
            None,
            200,
        ),
        row(
            "GET /stacks/{id}/rollout",
            "/api/v1/stacks/{s}/rollout",
            None,
            200,
        ),
        row(
            "POST /stacks/{id}/deployment-objects",
            "/api/v1/stacks/{s}/deployment-objects",
            Some(
                json!({"yaml_content": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n"}),
            ),
            200,
        ),
        row(
            "GET /stacks/{id}/labels",
            "/api/v1/stacks/{s}/labels",
            None,
            200,
        ),
        row(
            "POST /stacks/{id}/labels",
            "/api/v1/stacks/{s}/labels",
            Some(json!("tier:web")),
            200,
        ),
        row(
            "DELETE /stacks/{id}/labels/{label}",
            "/api/v1/stacks/{s}/labels/env:prod",
            None,
            204,
        ),
        row(
            "GET /stacks/{id}/annotations",
            "/api/v1/stacks/{s}/annotations",
            None,
            200,
        ),
        row(
            "POST /stacks/{id}/annotations",
            "/api/v1/stacks/{s}/annotations",
            Some(json!({"key": "k", "value": "v"})),
            200,
        ),
        row(
            "DELETE /stacks/{id}/annotations/{key}",
            "/api/v1/stacks/{s}/annotations/region",
            None,
            204,
        ),
        row(
            "GET /deployment-objects/{id}",
            "/api/v1/deployment-objects/{d}",
            None,
            200,
        ),
        row(
            "POST /deployment-objects/{id}/diagnostics",
            "/api/v1/deployment-objects/{d}/diagnostics",
            Some(json!({"agent_id": "{a}"})),
            201,
        ),
        row(
            "GET /diagnostics/{id}",
            "/api/v1/diagnostics/{q}",
            None,
            200,
        ),
        row(
            "GET /agents/{id}/diagnostics/pending",
            "/api/v1/agents/{a}/diagnostics/pending",
            None,
            200,
        ),
        row(
            "POST /diagnostics/{id}/claim",
            "/api/v1/diagnostics/{q}/claim",
            None,
            200,
        ),
        row(
            "POST /diagnostics/{id}/result",
            "/api/v1/diagnostics/{qc}/result",
            Some(
                json!({"pod_statuses": "[]", "events": "[]", "collected_at": "2026-11-27T00:00:00Z"}),
            ),
            201,
        ),
        row(
            "PATCH /agents/{id}/health-status",
            "/api/v1/agents/{a}/health-status",
            Some(json!({"deployment_objects": [
                {"id": "{d}", "status": "degraded", "checked_at": "2026-11-27T00:00:00Z"}
            ]})),
            200,
        ),
        row(
            "GET /deployment-objects/{id}/health",
            "/api/v1/deployment-objects/{d}/health",
            None,
            200,
        ),
        row(
            "GET /stacks/{id}/health",
            "/api/v1/stacks/{s}/health",
            None,
            200,
        ),
        row(
            "POST /admin/config/reload",
            "/api/v1/admin/config/reload",
            None,
            200,
        ),
        // Work orders.
        row("GET /work-orders", "/api/v1/work-orders", None, 200),
        row(
            "POST /work-orders",
            "/api/v1/work-orders",
            Some(
                json!({"work_type": "custom", "yaml_content": "a: 1", "targeting": {"agent_ids": ["{a}"]}}),
            ),
            201,
        ),
        row(
            "GET /work-orders/{id}",
            "/api/v1/work-orders/{wo_pending}",
            None,
            200,
        ),
        row(
            "DELETE /work-orders/{id}",
            "/api/v1/work-orders/{wo_pending}",
            None,
            204,
        ),
        row(
            "GET /agents/{id}/work-orders/pending",
            "/api/v1/agents/{a}/work-orders/pending",
            None,
            200,
        ),
        row(
            "POST /work-orders/{id}/claim",
            "/api/v1/work-orders/{wo_pending}/claim",
            Some(json!({"agent_id": "{a}"})),
            200,
        ),
        row(
            "POST /work-orders/{id}/complete",
            "/api/v1/work-orders/{wo_claimed}/complete",
            Some(json!({"success": true})),
            200,
        ),
        row("GET /work-order-log", "/api/v1/work-order-log", None, 200),
        row(
            "GET /work-order-log/{id}",
            "/api/v1/work-order-log/{wo_done}",
            None,
            200,
        ),
        row(
            "POST /stacks/{id}/deployment-objects/from-template",
            "/api/v1/stacks/{s}/deployment-objects/from-template",
            Some(json!({"template_id": "{t}", "parameters": {"name": "x"}})),
            201,
        ),
        row("GET /templates", "/api/v1/templates", None, 200),
        row(
            "POST /templates",
            "/api/v1/templates",
            Some(
                json!({"name": "t-{uniq}", "template_content": "a: b", "parameters_schema": "{}"}),
            ),
            201,
        ),
        row("GET /templates/{id}", "/api/v1/templates/{t}", None, 200),
        row(
            "PUT /templates/{id}",
            "/api/v1/templates/{t}",
            Some(json!({"template_content": "a: {{ b }}", "parameters_schema": "{}"})),
            200,
        ),
        row("DELETE /templates/{id}", "/api/v1/templates/{t}", None, 204),
        row(
            "GET /templates/{id}/labels",
            "/api/v1/templates/{t}/labels",
            None,
            200,
        ),
        row(
            "POST /templates/{id}/labels",
            "/api/v1/templates/{t}/labels",
            Some(json!("tier:web")),
            200,
        ),
        row(
            "DELETE /templates/{id}/labels/{label}",
            "/api/v1/templates/{t}/labels/env:prod",
            None,
            204,
        ),
        row(
            "GET /templates/{id}/annotations",
            "/api/v1/templates/{t}/annotations",
            None,
            200,
        ),
        row(
            "POST /templates/{id}/annotations",
            "/api/v1/templates/{t}/annotations",
            Some(json!({"key": "k", "value": "v"})),
            200,
        ),
        row(
            "DELETE /templates/{id}/annotations/{key}",
            "/api/v1/templates/{t}/annotations/region",
            None,
            204,
        ),
        row(
            "POST /templates/{id}/rollout",
            "/api/v1/templates/{t}/rollout",
            None,
            202,
        ),
        row(
            "GET /templates/{id}/rollouts/{rollout_id}",
            "/api/v1/templates/{t}/rollouts/{r}",
            None,
            200,
        ),
        row(
            "GET /admin/audit-logs",
            "/api/v1/admin/audit-logs",
            None,
            200,
        ),
        // Webhooks.
        row("GET /webhooks", "/api/v1/webhooks", None, 200),
        row(
            "POST /webhooks",
            "/api/v1/webhooks",
            Some(
                json!({"name": "w-{uniq}", "url": "http://127.0.0.1:9/x", "event_types": ["stack.created"]}),
            ),
            201,
        ),
        row(
            "GET /webhooks/event-types",
            "/api/v1/webhooks/event-types",
            None,
            200,
        ),
        row("GET /webhooks/{id}", "/api/v1/webhooks/{w}", None, 200),
        row(
            "PUT /webhooks/{id}",
            "/api/v1/webhooks/{w}",
            Some(json!({"name": "renamed-{uniq}"})),
            200,
        ),
        row("DELETE /webhooks/{id}", "/api/v1/webhooks/{w}", None, 204),
        row(
            "GET /webhooks/{id}/deliveries",
            "/api/v1/webhooks/{w}/deliveries",
            None,
            200,
        ),
        row(
            "POST /webhooks/{id}/ping",
            "/api/v1/webhooks/{w}/ping",
            None,
            202,
        ),
        // The receiver does not exist: the test send reports the failure with 400.
        row(
            "POST /webhooks/{id}/test",
            "/api/v1/webhooks/{w}/test",
            None,
            400,
        ),
        row(
            "GET /agents/{id}/webhooks/pending",
            "/api/v1/agents/{a}/webhooks/pending",
            None,
            200,
        ),
        row(
            "GET /webhook-deliveries/{id}",
            "/api/v1/webhook-deliveries/{wq}",
            None,
            200,
        ),
        row(
            "POST /webhook-deliveries/{id}/redeliver",
            "/api/v1/webhook-deliveries/{wq}/redeliver",
            None,
            202,
        ),
        row(
            "POST /webhook-deliveries/{id}/result",
            "/api/v1/webhook-deliveries/{wd}/result",
            Some(json!({"success": true, "status_code": 200, "duration_ms": 5})),
            200,
        ),
    ]
}

#[tokio::test]
async fn every_endpoint_answers_each_caller_as_the_matrix_says() {
    let b = broker().await;
    let mut failures = Vec::new();
    for row in rows() {
        let expect = row.expect();
        // Refused callers first, on one fixture: each must write nothing.
        let f = fixture(&b).await;
        let audit_before = b.count(CHANGES).await;
        for (i, expected) in expect.iter().enumerate() {
            if *expected == row.success {
                continue;
            }
            let path = f.fill(row.path);
            let (status, body) = b
                .call(
                    row.method.clone(),
                    &path,
                    Some(f.pak(&b.admin, i)),
                    f.body(&row.body),
                )
                .await;
            if status.as_u16() != *expected {
                failures.push(format!(
                    "{} {} as {}: expected {expected}, got {status} {body}",
                    row.method, row.path, CALLERS[i]
                ));
            }
            if !body["error"].is_string() {
                failures.push(format!(
                    "{} {} as {}: error body is not JSON {{error}}: {body}",
                    row.method, row.path, CALLERS[i]
                ));
            }
        }
        // Without a key and with a malformed key: 401 with a JSON error.
        let path = f.fill(row.path);
        for pak in [
            None,
            Some("not-a-pak"),
            Some("brokkr_BRxxxxxxxx_wrongwrongwrongwrongwrong"),
        ] {
            let (status, body) = b
                .call(row.method.clone(), &path, pak, f.body(&row.body))
                .await;
            if status != StatusCode::UNAUTHORIZED || !body["error"].is_string() {
                failures.push(format!(
                    "{} {} with key {pak:?}: expected 401 JSON, got {status} {body}",
                    row.method, row.path
                ));
            }
        }
        let audit_after = b.count(CHANGES).await;
        if audit_after != audit_before {
            failures.push(format!(
                "{} {}: refused calls wrote {} audit entries",
                row.method,
                row.path,
                audit_after - audit_before
            ));
        }
        // Each permitted caller on a fresh fixture.
        for (i, expected) in expect.iter().enumerate() {
            if *expected != row.success {
                continue;
            }
            let f = fixture(&b).await;
            let path = f.fill(row.path);
            let (status, body) = b
                .call(
                    row.method.clone(),
                    &path,
                    Some(f.pak(&b.admin, i)),
                    f.body(&row.body),
                )
                .await;
            if status.as_u16() != *expected {
                failures.push(format!(
                    "{} {} as {}: expected {expected}, got {status} {body}",
                    row.method, row.path, CALLERS[i]
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `brokkr rollout status` in a CI job holding a generator PAK: the owning generator reads each
/// agent's verdict on its stack's newest object, as the admin does.
#[tokio::test]
async fn the_owning_generator_reads_the_rollout_of_its_stack() {
    let b = broker().await;
    let f = fixture(&b).await;
    for pak in [&b.admin, &f.g.1] {
        let (st, v) = b.get(&format!("/api/v1/stacks/{}/rollout", f.s), pak).await;
        assert_eq!(st, StatusCode::OK, "{v}");
        assert_eq!(v["deployment_object_id"], json!(f.d), "{v}");
        assert_eq!(v["state"], json!("applied"), "{v}");
        let agents = v["agents"].as_array().expect("agents");
        assert_eq!(agents.len(), 1, "only agent a runs the stack: {v}");
        assert_eq!(agents[0]["agent_id"], json!(f.a.0), "{v}");
        assert_eq!(agents[0]["state"], json!("applied"), "{v}");
    }
    // A newer version nobody has reported on yet is pending.
    let d2 = id_of(&b.deploy(&f.g.1, &f.s, &namespace_yaml("demo2")).await);
    let (st, v) = b
        .get(&format!("/api/v1/stacks/{}/rollout", f.s), &f.g.1)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["deployment_object_id"], json!(d2), "{v}");
    assert_eq!(v["state"], json!("pending"), "{v}");
    assert_eq!(v["agents"][0]["state"], json!("pending"), "{v}");
    let (st, ev) = b
        .post(
            &format!("/api/v1/agents/{}/events", f.a.0),
            &f.a.1,
            json!({"deployment_object_id": d2, "event_type": "DEPLOY", "status": "FAILURE",
                   "message": "no kind Widget"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{ev}");
    let (_, v) = b
        .get(&format!("/api/v1/stacks/{}/rollout", f.s), &f.g.1)
        .await;
    assert_eq!(v["state"], json!("failed"), "{v}");
    assert_eq!(v["agents"][0]["message"], json!("no kind Widget"), "{v}");
    // A stack without objects: pending, no object.
    let (st, v) = b
        .get(&format!("/api/v1/stacks/{}/rollout", f.s2), &f.g.1)
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["deployment_object_id"], Value::Null, "{v}");
    assert_eq!(v["agents"], json!([]), "{v}");
}

#[tokio::test]
async fn every_route_has_a_rule_and_every_rule_a_request() {
    let document: Value = serde_json::from_str(
        &brokkr_api::openapi::offline_document().expect("the OpenAPI document"),
    )
    .expect("JSON");
    let mut routes = Vec::new();
    for (path, operations) in document["paths"].as_object().expect("paths") {
        for method in operations.as_object().expect("operations").keys() {
            routes.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    let missing: Vec<&String> = routes
        .iter()
        .filter(|r| access::rule_of_route(r).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a rule in brokkr_api::access::POLICY: {missing:?}"
    );
    let tested: Vec<&str> = rows().iter().map(|r| r.route).collect();
    let untested: Vec<&&str> = access::POLICY
        .iter()
        .flat_map(|rule| rule.routes)
        .filter(|r| !tested.contains(r))
        .collect();
    assert!(
        untested.is_empty(),
        "routes of the policy without a request in rows(): {untested:?}"
    );
    let unknown: Vec<&&str> = tested
        .iter()
        .filter(|r| !routes.iter().any(|route| route == *r))
        .collect();
    assert!(
        unknown.is_empty(),
        "rows() names routes the API does not have: {unknown:?}"
    );
}

#[tokio::test]
async fn pak_hashes_never_appear_in_responses() {
    let b = broker().await;
    let f = fixture(&b).await;
    for path in [
        "/api/v1/agents".to_owned(),
        format!("/api/v1/agents/{}", f.a.0),
        "/api/v1/generators".to_owned(),
        format!("/api/v1/generators/{}", f.g.0),
    ] {
        let (_, body) = b.get(&path, &b.admin).await;
        assert!(!body.to_string().contains("pak_hash"), "{path}: {body}");
    }
    let (_, body) = b
        .post(
            &format!("/api/v1/agents/{}/rotate-pak", f.a.0),
            &b.admin,
            json!(null),
        )
        .await;
    assert!(!body.to_string().contains("pak_hash"));
}

#[tokio::test]
async fn an_agent_can_never_target_itself_or_another_agent_at_a_stack() {
    let b = broker().await;
    let f = fixture(&b).await;
    for agent in [&f.a.0, &f.b.0] {
        let (s, body) = b
            .post(
                &format!("/api/v1/agents/{agent}/targets"),
                &f.a.1,
                json!({"agent_id": agent, "stack_id": f.s2}),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    }
    // A body id that disagrees with the path is refused even for the admin.
    let (s, body) = b
        .post(
            &format!("/api/v1/agents/{}/targets", f.a.0),
            &b.admin,
            json!({"agent_id": f.b.0, "stack_id": f.s2}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (_, targets) = b
        .get(&format!("/api/v1/agents/{}/targets", f.b.0), &b.admin)
        .await;
    assert_eq!(targets, json!([]));
    // Nor can it read a stack it does not manage.
    let (s, _) = b.get(&format!("/api/v1/stacks/{}", f.s2), &f.a.1).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rotated_and_deleted_keys_stop_working_at_once() {
    let b = broker().await;
    let f = fixture(&b).await;
    // Warm the auth cache.
    assert_eq!(
        b.get(&format!("/api/v1/agents/{}", f.a.0), &f.a.1).await.0,
        StatusCode::OK
    );
    let (s, v) = b
        .post(
            &format!("/api/v1/agents/{}/rotate-pak", f.a.0),
            &f.a.1,
            json!(null),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let new_pak = v["pak"].as_str().unwrap().to_owned();
    assert_eq!(
        b.get(&format!("/api/v1/agents/{}", f.a.0), &f.a.1).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        b.get(&format!("/api/v1/agents/{}", f.a.0), &new_pak)
            .await
            .0,
        StatusCode::OK
    );

    assert_eq!(
        b.get(&format!("/api/v1/generators/{}", f.g.0), &f.g.1)
            .await
            .0,
        StatusCode::OK
    );
    let (s, _) = b
        .delete(&format!("/api/v1/generators/{}", f.g.0), &b.admin)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        b.get(&format!("/api/v1/generators/{}", f.g.0), &f.g.1)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );

    let (s, _) = b
        .delete(&format!("/api/v1/agents/{}", f.a.0), &b.admin)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        b.get(&format!("/api/v1/agents/{}", f.a.0), &new_pak)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
}

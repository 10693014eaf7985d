//! Tenancy end to end: an agent runs only the stacks of generators it registered with. With the
//! real broker and agent processes against kubesim (or the cluster of `BROKKR_E2E_KUBECONFIG`):
//! deregistering from a generator removes that generator's objects from the cluster and leaves
//! the fleet-wide ones; an agent registers itself with the generators of its configuration.

use brokkr_e2e::harness::{DEFAULT_DEADLINE, Harness, Options, eventually};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::Api;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

async fn start(options: Options) -> Harness {
    Harness::start(options).await.expect("harness starts")
}

/// A namespace with one ConfigMap `app`.
fn app(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: {ns}\ndata:\n  k: v\n"
    )
}

async fn configmap_exists(h: &Harness, ns: &str) -> bool {
    let api: Api<ConfigMap> = Api::namespaced(h.kube.clone(), ns);
    matches!(api.get_opt("app").await, Ok(Some(_)))
}

async fn namespace_gone(h: &Harness, name: &str) -> bool {
    let api: Api<Namespace> = Api::all(h.kube.clone());
    match api.get_opt(name).await {
        Ok(None) => true,
        Ok(Some(ns)) => ns.metadata.deletion_timestamp.is_some(),
        Err(_) => false,
    }
}

/// `POST` (as `pak`) and expect a 2xx; returns the body.
async fn ok(h: &Harness, pak: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, v) = h.call(pak, method.clone(), path, body).await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v
}

/// A stack of `pak` (a generator, or the admin for a fleet-wide one) labelled `label`, with
/// one deployment object; returns (stack, deployment object).
async fn labelled_stack(
    h: &Harness,
    pak: &str,
    name: &str,
    label: &str,
    yaml: &str,
) -> (Uuid, Value) {
    let stack = ok(
        h,
        pak,
        Method::POST,
        "/api/v1/stacks",
        Some(json!({"name": name})),
    )
    .await;
    let id: Uuid = stack["id"].as_str().unwrap().parse().unwrap();
    ok(
        h,
        pak,
        Method::POST,
        &format!("/api/v1/stacks/{id}/labels"),
        Some(json!(label)),
    )
    .await;
    let object = ok(
        h,
        pak,
        Method::POST,
        &format!("/api/v1/stacks/{id}/deployment-objects"),
        Some(json!({"yaml_content": yaml})),
    )
    .await;
    (id, object)
}

#[tokio::test]
async fn deregistering_from_a_generator_prunes_its_stacks_from_the_cluster() {
    let h = start(Options {
        worker: false,
        ..Options::default()
    })
    .await;
    ok(
        &h,
        &h.admin,
        Method::POST,
        &format!("/api/v1/agents/{}/labels", h.agent_id),
        Some(json!("tier=web")),
    )
    .await;
    // The generator's stacks: one targeted, one matched by label; and a fleet-wide stack.
    let targeted_ns = h.ns("targeted");
    let targeted = h.create_stack("targeted").await.unwrap();
    let targeted_object = h
        .post_deployment(targeted, &app(&targeted_ns))
        .await
        .unwrap();
    let labelled_ns = h.ns("labelled");
    let (_, labelled_object) = labelled_stack(
        &h,
        &h.generator_pak,
        "labelled",
        "tier=web",
        &app(&labelled_ns),
    )
    .await;
    let fleet_ns = h.ns("fleet");
    let (_, fleet_object) =
        labelled_stack(&h, &h.admin, "fleet", "tier=web", &app(&fleet_ns)).await;
    for object in [&targeted_object, &labelled_object, &fleet_object] {
        h.wait_for_event(object, "SUCCESS").await.unwrap();
    }
    for ns in [&targeted_ns, &labelled_ns, &fleet_ns] {
        assert!(configmap_exists(&h, ns).await, "{ns} applied");
    }

    let (status, body) = h
        .api(
            Method::DELETE,
            &format!("/api/v1/generators/{}/register", h.generator_id),
            Some(json!({"agent_id": h.agent_id})),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    eventually(
        "the generator's objects removed from the cluster",
        DEFAULT_DEADLINE,
        || async {
            let mut left = Vec::new();
            for ns in [&targeted_ns, &labelled_ns] {
                if configmap_exists(&h, ns).await || !namespace_gone(&h, ns).await {
                    left.push(ns.clone());
                }
            }
            if left.is_empty() {
                Ok(())
            } else {
                Err(format!("still there: {left:?}"))
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}\nagent log:\n{}", h.agent_log()));
    // What the system generator owns stays.
    assert!(
        configmap_exists(&h, &fleet_ns).await,
        "fleet-wide stack kept"
    );
    let targets = ok(
        &h,
        &h.admin,
        Method::GET,
        &format!("/api/v1/agents/{}/targets", h.agent_id),
        None,
    )
    .await;
    assert_eq!(targets, json!([]));
}

#[tokio::test]
async fn the_agent_registers_itself_with_the_generators_in_its_configuration() {
    let mut h = start(Options {
        worker: false,
        agent: false,
        ..Options::default()
    })
    .await;
    let other = ok(
        &h,
        &h.admin,
        Method::POST,
        "/api/v1/generators",
        Some(json!({"name": "team-b"})),
    )
    .await;
    let other_id = other["generator"]["id"].as_str().unwrap().to_owned();
    let other_pak = other["pak"].as_str().unwrap().to_owned();
    ok(
        &h,
        &h.admin,
        Method::POST,
        &format!("/api/v1/agents/{}/labels", h.agent_id),
        Some(json!("tier=web")),
    )
    .await;
    let ns = h.ns("team-b");
    let (_, object) = labelled_stack(&h, &other_pak, "team-b-app", "tier=web", &app(&ns)).await;
    h.options
        .agent_env
        .push(("BROKKR__AGENT__GENERATOR_IDS".into(), other_id.clone()));
    h.start_agent().await.unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    assert!(configmap_exists(&h, &ns).await);
    let registrations = ok(
        &h,
        &h.admin,
        Method::GET,
        &format!("/api/v1/agents/{}/registrations", h.agent_id),
        None,
    )
    .await;
    assert!(
        registrations
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["generator_id"] == json!(other_id)),
        "{registrations}"
    );
}

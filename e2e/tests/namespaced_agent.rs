//! A namespace-restricted agent (`agent.namespaces`, the agent chart's `rbac.mode:
//! namespaced`), end to end: it applies and prunes in its namespaces, refuses objects elsewhere
//! (and cluster-scoped ones it was not granted with `agent.cluster_resources`) with one line per
//! object in the deployment's FAILURE event, leaves objects outside its namespaces alone even
//! when they carry its labels, and never asks the API server for anything outside its
//! namespaces and granted resources (kubesim's request log).

use brokkr_e2e::harness::{Harness, Options};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

fn configmap(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  k: v\n"
    )
}

fn namespace(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

async fn exists(h: &Harness, ns: &str, name: &str) -> bool {
    let api: Api<ConfigMap> = Api::namespaced(h.kube.clone(), ns);
    api.get_opt(name).await.ok().flatten().is_some()
}

/// The agent's requests that reach outside the `allowed` namespaces: lists (collection GETs)
/// of a namespaced kind across all namespaces or in another namespace, lists of cluster-scoped
/// kinds, and writes (PATCH, DELETE) anywhere else; Namespaces (granted here) excepted.
/// Discovery (`/api`, `/apis`, `/api/v1`, `/apis/G/V`, `/version`) is fine. (The test itself
/// only reads named objects.)
fn outside(requests: &Value, allowed: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    for r in requests["recent"].as_array().into_iter().flatten() {
        let method = r["method"].as_str().unwrap_or_default();
        let path = r["path"].as_str().unwrap_or_default();
        let path = path.split('?').next().unwrap_or_default();
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest: &[&str] = match parts.as_slice() {
            ["api", "v1", rest @ ..] => rest,
            ["apis", _, _, rest @ ..] => rest,
            _ => continue,
        };
        let in_allowed = matches!(rest, ["namespaces", ns, _, ..] if allowed.contains(ns))
            || matches!(rest, ["namespaces"] | ["namespaces", _]);
        let collection = matches!(rest, [_] | ["namespaces", _, _]);
        let write = method == "PATCH" || method == "DELETE";
        if !rest.is_empty() && !in_allowed && (write || (method == "GET" && collection)) {
            bad.push(format!("{method} {path}"));
        }
    }
    bad
}

/// Checks kubesim's request log (on kubesim only) and resets it.
async fn check_requests(h: &Harness, allowed: &str, when: &str) {
    let Some(sim) = h.sim() else { return };
    let requests = h.kube_requests().await.unwrap();
    let bad = outside(&requests, &[allowed]);
    assert!(
        bad.is_empty(),
        "{when}: requests outside {allowed}: {bad:#?}"
    );
    assert!(
        requests["recent"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| {
                r["method"] == "GET"
                    && r["path"]
                        .as_str()
                        .is_some_and(|p| p.contains(&format!("/namespaces/{allowed}/")))
            })),
        "{when}: the request log shows the agent's lists: {requests}"
    );
    h.http
        .delete(format!("{}/_kubesim/requests", sim.url()))
        .send()
        .await
        .expect("request log reset");
}

#[tokio::test]
async fn a_namespaced_agent_reconciles_and_prunes_in_its_namespaces_only() {
    let mut h = Harness::start(Options {
        agent: false,
        ..Options::default()
    })
    .await
    .expect("harness starts");
    let mine = h.create_namespace("mine").await.expect("namespace");
    let other = h.create_namespace("other").await.expect("namespace");
    let stack = h.create_stack("scoped").await.expect("stack");

    // Left in `other` by this agent when it managed the whole cluster: its labels say the agent
    // and the stack own it, so a cluster-wide agent would prune it; a namespaced one never sees it.
    let leftover: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "leftover", "namespace": other, "labels": {
            "brokkr.io/owner-id": h.agent_id.to_string(),
            "k8s.brokkr.io/stack": stack.to_string()}},
        "data": {"k": "v"}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(h.kube.clone(), &other)
        .create(&PostParams::default(), &leftover)
        .await
        .expect("leftover ConfigMap");

    h.options
        .agent_env
        .push(("BROKKR__AGENT__NAMESPACES".into(), mine.clone()));
    h.options.agent_env.push((
        "BROKKR__AGENT__CLUSTER_RESOURCES".into(),
        "namespaces".into(),
    ));
    if let Some(sim) = h.sim() {
        h.http
            .delete(format!("{}/_kubesim/requests", sim.url()))
            .send()
            .await
            .expect("request log reset");
    }
    h.start_agent().await.expect("agent starts");

    // Version 1: two ConfigMaps in its namespace.
    let v1 = format!("{}---\n{}", configmap(&mine, "a"), configmap(&mine, "b"));
    let object = h.post_deployment(stack, &v1).await.unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    assert!(exists(&h, &mine, "a").await && exists(&h, &mine, "b").await);
    assert!(
        exists(&h, &other, "leftover").await,
        "the agent pruned an object outside its namespaces"
    );
    // Its first pass listed what it owns (to prune): in its namespace only.
    check_requests(&h, &mine, "first pass").await;

    // Version 2: an object in another namespace and a cluster-scoped one not granted are
    // refused, each named in the event, and nothing of the version is applied.
    let granted = h.ns("granted");
    let role = format!("extra-{}", h.run_id());
    let v2 = [
        namespace(&granted),
        configmap(&mine, "c"),
        configmap(&other, "x"),
        format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: {role}\nrules: []\n"
        ),
    ]
    .join("---\n");
    let object = h.post_deployment(stack, &v2).await.unwrap();
    let event = h.wait_for_event(&object, "FAILURE").await.unwrap();
    let message = event["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("ConfigMap {other}/x"))
            && message.contains(&format!(
                "namespace {other} is not one of this agent's namespaces"
            )),
        "{message}"
    );
    assert!(
        message.contains(&format!("ClusterRole {role}"))
            && message
                .contains("cluster-scoped clusterroles.rbac.authorization.k8s.io are refused"),
        "{message}"
    );
    assert!(
        !message.contains(&granted),
        "the granted Namespace is not refused: {message}"
    );
    assert!(
        !exists(&h, &mine, "c").await,
        "a refused version applies nothing"
    );
    assert!(!exists(&h, &other, "x").await);
    let namespaces: Api<Namespace> = Api::all(h.kube.clone());
    let live = |ns: Option<Namespace>| ns.is_some_and(|n| n.metadata.deletion_timestamp.is_none());
    assert!(!live(namespaces.get_opt(&granted).await.unwrap()));

    // Version 3: the granted cluster-scoped Namespace is applied; prune in its namespace (b
    // goes), the leftover elsewhere stays.
    let v3 = format!("{}---\n{}", namespace(&granted), configmap(&mine, "a"));
    let object = h.post_deployment(stack, &v3).await.unwrap();
    h.wait_for_event(&object, "SUCCESS").await.unwrap();
    assert!(exists(&h, &mine, "a").await);
    assert!(live(namespaces.get_opt(&granted).await.unwrap()));
    assert!(!exists(&h, &mine, "b").await, "b is pruned");
    assert!(exists(&h, &other, "leftover").await);

    // Deleting the stack removes what it applied (the granted Namespace too), nothing else.
    let marker = h.post_deletion_marker(stack).await.unwrap();
    h.wait_for_event(&marker, "SUCCESS").await.unwrap();
    assert!(
        !exists(&h, &mine, "a").await,
        "the stack's objects are removed"
    );
    assert!(!live(namespaces.get_opt(&granted).await.unwrap()));
    assert!(exists(&h, &other, "leftover").await);
    check_requests(&h, &mine, "to the end").await;
}

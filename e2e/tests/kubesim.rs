//! kubesim driven by the real kube-rs client over HTTP, through the kubeconfig it writes.

use std::future::Future;
use std::time::{Duration, Instant};

use brokkr_e2e::kubesim::{FAIL_ANNOTATION, FaultSpec, KubeSim, Options};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, LogParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::discovery::{Discovery, Scope};
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

/// Polls `check` until it returns `Some`, failing with `what` after 10 s.
async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn sim() -> (KubeSim, Client) {
    let sim = KubeSim::start().await.expect("kubesim starts");
    let client = sim.client().await.expect("client from kubeconfig");
    (sim, client)
}

fn api_status(err: kube::Error) -> Box<kube::core::Status> {
    match err {
        kube::Error::Api(status) => status,
        other => panic!("expected an API Status error, got {other:?}"),
    }
}

fn cm(name: &str, labels: Value, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap",
           "metadata": {"name": name, "labels": labels}, "data": data})
}

async fn create_ns(client: &Client, name: &str) {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .patch(
            name,
            &PatchParams::apply("test"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            ),
        )
        .await
        .expect("namespace applied");
}

fn deployment(name: &str, replicas: i32, annotations: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"stack": "s1"}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}, "annotations": annotations},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
            },
        },
    })
}

fn widget_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com", "scope": "Namespaced",
            "names": {"kind": "Widget", "plural": "widgets", "singular": "widget", "shortNames": ["wg"]},
            "versions": [{"name": "v1", "served": true, "storage": true,
                          "subresources": {"status": {}},
                          "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}],
        },
    })
}

#[tokio::test]
async fn discovery_serves_builtins_and_crd_defined_kinds() {
    let (_sim, client) = sim().await;
    let version = client.apiserver_version().await.expect("/version");
    assert_eq!(version.major, "1");

    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    for (group, version, kind, scope) in [
        ("", "v1", "Namespace", Scope::Cluster),
        ("", "v1", "ConfigMap", Scope::Namespaced),
        ("", "v1", "PersistentVolumeClaim", Scope::Namespaced),
        ("apps", "v1", "Deployment", Scope::Namespaced),
        ("apps", "v1", "DaemonSet", Scope::Namespaced),
        ("batch", "v1", "CronJob", Scope::Namespaced),
        (
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            Scope::Namespaced,
        ),
        (
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            Scope::Cluster,
        ),
        ("policy", "v1", "PodDisruptionBudget", Scope::Namespaced),
        (
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            Scope::Namespaced,
        ),
        (
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            Scope::Cluster,
        ),
    ] {
        let (ar, caps) = discovery
            .resolve_gvk(&GroupVersionKind::gvk(group, version, kind))
            .unwrap_or_else(|| panic!("{group}/{version} {kind} discovered"));
        assert_eq!(caps.scope, scope, "{kind}");
        assert!(caps.supports_operation("patch"), "{kind}");
        assert!(!ar.plural.is_empty());
    }
    let widget = GroupVersionKind::gvk("example.com", "v1", "Widget");
    assert!(discovery.resolve_gvk(&widget).is_none());

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("test"),
        &Patch::Apply(widget_crd()),
    )
    .await
    .expect("CRD applied");
    let crd = crds.get("widgets.example.com").await.expect("CRD stored");
    let established = crd
        .status
        .and_then(|s| s.conditions)
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Established" && c.status == "True");
    assert!(established, "CRD is Established");

    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let (ar, caps) = discovery
        .resolve_gvk(&widget)
        .expect("Widget discovered after its CRD");
    assert_eq!(caps.scope, Scope::Namespaced);
    let aggregated = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .expect("aggregated discovery");
    assert!(aggregated.resolve_gvk(&widget).is_some());
    assert!(
        aggregated
            .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "StatefulSet"))
            .is_some()
    );

    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let mut w = DynamicObject::new("w1", &ar).data(json!({"spec": {"size": 3}}));
    w.metadata.labels = Some([("tier".to_string(), "gold".to_string())].into());
    widgets
        .create(&PostParams::default(), &w)
        .await
        .expect("widget created");
    let listed = widgets
        .list(&ListParams::default().labels("tier=gold"))
        .await
        .expect("widgets listed");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].data["spec"]["size"], 3);

    // Deleting the CRD removes its kind and its objects.
    crds.delete("widgets.example.com", &DeleteParams::default())
        .await
        .expect("CRD deleted");
    let err = widgets.get("w1").await.expect_err("kind gone");
    assert_eq!(api_status(err).code, 404);
}

/// `kubectl get all -A` resolves the `all` category from discovery: the workload kinds are in
/// it (core and apps groups, and a CRD that asks for it), the others are not.
#[tokio::test]
async fn the_all_category_names_the_workload_kinds_as_kubectl_expects() {
    let (_sim, client) = sim().await;
    let in_all = |list: &k8s_openapi::apimachinery::pkg::apis::meta::v1::APIResourceList| {
        let mut names: Vec<String> = list
            .resources
            .iter()
            .filter(|r| {
                r.categories
                    .as_ref()
                    .is_some_and(|c| c.iter().any(|c| c == "all"))
            })
            .map(|r| r.name.clone())
            .collect();
        names.sort();
        names
    };
    let core = client.list_core_api_resources("v1").await.expect("core v1");
    assert_eq!(in_all(&core), ["pods", "services"]);
    let apps = client
        .list_api_group_resources("apps/v1")
        .await
        .expect("apps/v1");
    assert_eq!(
        in_all(&apps),
        ["deployments", "replicasets", "statefulsets"]
    );

    let mut crd = widget_crd();
    crd["spec"]["names"]["categories"] = json!(["all"]);
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd).unwrap(),
    )
    .await
    .expect("CRD created");
    let widgets = eventually("the Widget kind served", || {
        let client = client.clone();
        async move { client.list_api_group_resources("example.com/v1").await.ok() }
    })
    .await;
    assert_eq!(in_all(&widgets), ["widgets"]);
}

#[tokio::test]
async fn server_side_apply_create_update_conflict_force_and_managed_fields() {
    let (_sim, client) = sim().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let created = cms
        .patch(
            "cfg",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(cm("cfg", json!({"app": "x"}), json!({"a": "1", "b": "1"}))),
        )
        .await
        .expect("apply creates");
    let uid = created.uid().expect("uid");
    let rv1: u64 = created
        .resource_version()
        .expect("rv")
        .parse()
        .expect("numeric rv");
    assert!(created.metadata.creation_timestamp.is_some());
    let managed = created.metadata.managed_fields.clone().unwrap_or_default();
    assert_eq!(managed.len(), 1);
    assert_eq!(managed[0].manager.as_deref(), Some("mgr-a"));
    assert_eq!(managed[0].operation.as_deref(), Some("Apply"));
    let fields = serde_json::to_value(&managed[0].fields_v1).expect("fieldsV1");
    assert!(fields["f:data"]["f:a"].is_object(), "{fields}");
    assert!(
        fields["f:metadata"]["f:labels"]["f:app"].is_object(),
        "{fields}"
    );

    // Re-applying the same configuration is a no-op: same resourceVersion.
    let again = cms
        .patch(
            "cfg",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(cm("cfg", json!({"app": "x"}), json!({"a": "1", "b": "1"}))),
        )
        .await
        .expect("re-apply");
    assert_eq!(again.resource_version(), created.resource_version());

    // Update by the same manager: value changes, b dropped (a owned it alone) .
    let updated = cms
        .patch(
            "cfg",
            &PatchParams::apply("mgr-a"),
            &Patch::Apply(cm("cfg", json!({"app": "x"}), json!({"a": "2"}))),
        )
        .await
        .expect("apply updates");
    assert_eq!(updated.uid().as_deref(), Some(uid.as_str()));
    assert!(
        updated
            .resource_version()
            .expect("rv")
            .parse::<u64>()
            .expect("rv")
            > rv1
    );
    let data = updated.data.clone().unwrap_or_default();
    assert_eq!(data.get("a").map(String::as_str), Some("2"));
    assert!(
        !data.contains_key("b"),
        "field dropped from the apply is removed"
    );

    // Another manager changing a's field: 409 naming the owner and the field.
    let err = cms
        .patch(
            "cfg",
            &PatchParams::apply("mgr-b"),
            &Patch::Apply(cm("cfg", json!({}), json!({"a": "3"}))),
        )
        .await
        .expect_err("conflict");
    let status = api_status(err);
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert!(
        status.message.contains("mgr-a") && status.message.contains(".data.a"),
        "{}",
        status.message
    );
    assert_eq!(
        cms.get("cfg").await.expect("get").data.unwrap_or_default()["a"],
        "2"
    );

    // A different field of its own is fine; force takes a's field over.
    let forced = cms
        .patch(
            "cfg",
            &PatchParams::apply("mgr-b").force(),
            &Patch::Apply(cm("cfg", json!({}), json!({"a": "3", "c": "1"}))),
        )
        .await
        .expect("forced apply");
    assert_eq!(forced.data.clone().unwrap_or_default()["a"], "3");
    let owners = |cm: &ConfigMap, field: &str| -> Vec<String> {
        cm.metadata
            .managed_fields
            .clone()
            .unwrap_or_default()
            .into_iter()
            .filter(|m| {
                serde_json::to_value(&m.fields_v1).expect("fieldsV1")["f:data"][field].is_object()
            })
            .filter_map(|m| m.manager)
            .collect()
    };
    assert_eq!(owners(&forced, "f:a"), vec!["mgr-b".to_string()]);
    assert_eq!(owners(&forced, "f:c"), vec!["mgr-b".to_string()]);

    // An Update (merge patch) by a third manager is recorded as such.
    let patched = cms
        .patch(
            "cfg",
            &PatchParams {
                field_manager: Some("editor".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"c": "9"}})),
        )
        .await
        .expect("merge patch");
    let editor = patched
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .find(|m| m.manager.as_deref() == Some("editor"))
        .expect("editor entry");
    assert_eq!(editor.operation.as_deref(), Some("Update"));
}

#[tokio::test]
async fn label_selectors_in_one_and_all_namespaces() {
    let (_sim, client) = sim().await;
    create_ns(&client, "other").await;
    for (ns, name, labels) in [
        ("default", "web", json!({"app": "web", "tier": "front"})),
        ("default", "api", json!({"app": "api", "tier": "back"})),
        ("default", "plain", json!({})),
        ("other", "web2", json!({"app": "web", "legacy": "yes"})),
    ] {
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
        api.create(
            &PostParams::default(),
            &serde_json::from_value(cm(name, labels, json!({}))).expect("cm"),
        )
        .await
        .expect("created");
    }
    let names = |list: kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        let mut n: Vec<String> = list.items.iter().map(ResourceExt::name_any).collect();
        n.sort();
        n
    };
    let default: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let all: Api<ConfigMap> = Api::all(client.clone());
    for (selector, expected) in [
        ("app=web", vec!["web"]),
        ("app==api", vec!["api"]),
        ("app!=web", vec!["api", "plain"]),
        ("app in (web,api)", vec!["api", "web"]),
        ("app notin (web)", vec!["api", "plain"]),
        ("tier", vec!["api", "web"]),
        ("!tier", vec!["plain"]),
        ("app=web,tier=front", vec!["web"]),
    ] {
        let listed = default
            .list(&ListParams::default().labels(selector))
            .await
            .expect("list");
        assert_eq!(names(listed), expected, "selector {selector}");
    }
    let across = all
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("list all");
    assert_eq!(names(across), vec!["web", "web2"]);
    let err = default
        .list(&ListParams::default().labels("app in web"))
        .await
        .expect_err("bad selector");
    assert_eq!(api_status(err).code, 400);
    let by_field = all
        .list(&ListParams::default().fields("metadata.namespace=other"))
        .await
        .expect("field selector");
    assert_eq!(names(by_field), vec!["web2"]);
}

#[tokio::test]
async fn namespace_deletion_removes_its_objects_and_missing_namespace_is_404() {
    let (_sim, client) = sim().await;
    create_ns(&client, "doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.patch(
        "c",
        &PatchParams::apply("t"),
        &Patch::Apply(cm("c", json!({}), json!({"k": "v"}))),
    )
    .await
    .expect("cm in namespace");
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "doomed");
    deploys
        .patch(
            "web",
            &PatchParams::apply("t"),
            &Patch::Apply(deployment("web", 1, json!({}))),
        )
        .await
        .expect("deployment");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "doomed");
    eventually("a pod in the namespace", || async {
        (!pods
            .list(&ListParams::default())
            .await
            .ok()?
            .items
            .is_empty())
        .then_some(())
    })
    .await;

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .expect("namespace deleted");
    assert_eq!(
        api_status(namespaces.get("doomed").await.expect_err("gone")).code,
        404
    );
    assert!(
        cms.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );
    assert!(
        pods.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty()
    );

    let err = cms
        .patch(
            "c",
            &PatchParams::apply("t"),
            &Patch::Apply(cm("c", json!({}), json!({}))),
        )
        .await
        .expect_err("namespace missing");
    let status = api_status(err);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert!(
        status.message.contains("namespaces \"doomed\" not found"),
        "{}",
        status.message
    );
}

#[tokio::test]
async fn dry_run_stores_nothing() {
    let (sim, client) = sim().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let before = sim.cluster().store().resource_version();
    let object: ConfigMap =
        serde_json::from_value(cm("dry", json!({}), json!({"k": "v"}))).expect("cm");
    let answered = cms
        .create(
            &PostParams {
                dry_run: true,
                ..Default::default()
            },
            &object,
        )
        .await
        .expect("dry-run create answers");
    assert_eq!(answered.name_any(), "dry");
    cms.patch(
        "dry2",
        &PatchParams::apply("t").dry_run(),
        &Patch::Apply(cm("dry2", json!({}), json!({}))),
    )
    .await
    .expect("dry-run apply answers");
    assert_eq!(
        api_status(cms.get("dry").await.expect_err("not stored")).code,
        404
    );
    assert_eq!(
        api_status(cms.get("dry2").await.expect_err("not stored")).code,
        404
    );
    assert_eq!(sim.cluster().store().resource_version(), before);

    cms.create(&PostParams::default(), &object)
        .await
        .expect("real create");
    cms.delete(
        "dry",
        &DeleteParams {
            dry_run: true,
            ..Default::default()
        },
    )
    .await
    .expect("dry delete");
    assert!(
        cms.get("dry").await.is_ok(),
        "dry-run delete keeps the object"
    );
}

#[tokio::test]
async fn merge_patch_bumps_generation_only_on_spec_changes() {
    let (_sim, client) = sim().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let d = deploys
        .patch(
            "web",
            &PatchParams::apply("t"),
            &Patch::Apply(deployment("web", 1, json!({}))),
        )
        .await
        .expect("deployment");
    assert_eq!(d.metadata.generation, Some(1));
    let d = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"extra": "1"}}})),
        )
        .await
        .expect("label patch");
    assert_eq!(d.metadata.generation, Some(1));
    assert_eq!(d.labels().get("extra").map(String::as_str), Some("1"));
    assert_eq!(
        d.labels().get("stack").map(String::as_str),
        Some("s1"),
        "merge keeps other labels"
    );
    let d = deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .expect("replicas patch");
    assert_eq!(d.metadata.generation, Some(2));
    assert_eq!(d.spec.replicas, Some(3));
    let err = deploys
        .patch(
            "missing",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {}})),
        )
        .await
        .expect_err("missing");
    assert_eq!(api_status(err).code, 404);
}

#[tokio::test]
async fn replace_with_stale_resource_version_is_a_conflict() {
    let (_sim, client) = sim().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let object: ConfigMap =
        serde_json::from_value(cm("r", json!({}), json!({"v": "1"}))).expect("cm");
    let first = cms
        .create(&PostParams::default(), &object)
        .await
        .expect("created");
    let mut second = first.clone();
    second.data = Some([("v".to_string(), "2".to_string())].into());
    let replaced = cms
        .replace("r", &PostParams::default(), &second)
        .await
        .expect("replace");
    assert_ne!(replaced.resource_version(), first.resource_version());
    let mut stale = first.clone();
    stale.data = Some([("v".to_string(), "3".to_string())].into());
    let status = api_status(
        cms.replace("r", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        cms.get("r").await.expect("get").data.unwrap_or_default()["v"],
        "2"
    );
    let status = api_status(
        cms.create(&PostParams::default(), &object)
            .await
            .expect_err("exists"),
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );
}

#[tokio::test]
async fn deployment_gets_ready_pods_events_and_logs() {
    let (_sim, client) = sim().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deploys
        .patch(
            "web",
            &PatchParams::apply("t"),
            &Patch::Apply(deployment("web", 2, json!({}))),
        )
        .await
        .expect("deployment");
    let ready = eventually("2 ready replicas", || async {
        let d = deploys.get("web").await.ok()?;
        let status = d.status?;
        (status.ready_replicas == Some(2) && status.available_replicas == Some(2)).then_some(status)
    })
    .await;
    let available = ready
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_.as_deref() == Some("Available"))
        .expect("Available");
    assert_eq!(available.status.as_deref(), Some("True"));

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let listed = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .expect("pods");
    assert_eq!(listed.items.len(), 2);
    for pod in &listed.items {
        let status = pod.status.clone().expect("pod status");
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let cs = status.container_statuses.unwrap_or_default();
        assert!(cs.iter().all(|c| c.ready), "containers ready");
        let owner = &pod.owner_references()[0];
        assert_eq!(owner.kind, "ReplicaSet");
        assert_eq!(owner.controller, Some(true));
    }

    let name = listed.items[0].name_any();
    let log = pods
        .logs(
            &name,
            &LogParams {
                tail_lines: Some(3),
                ..Default::default()
            },
        )
        .await
        .expect("logs");
    assert_eq!(log.lines().count(), 3);
    assert_eq!(
        log,
        pods.logs(
            &name,
            &LogParams {
                tail_lines: Some(3),
                ..Default::default()
            }
        )
        .await
        .expect("logs")
    );
    let full = pods
        .logs(
            &name,
            &LogParams {
                container: Some("app".into()),
                ..Default::default()
            },
        )
        .await
        .expect("logs");
    assert!(full.lines().count() > 3 && full.ends_with(&log));
    let status = api_status(
        pods.logs(
            &name,
            &LogParams {
                container: Some("nope".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("bad container"),
    );
    assert_eq!(status.code, 400);

    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|e| e.reason)
        .collect();
    for reason in [
        "ScalingReplicaSet",
        "SuccessfulCreate",
        "Scheduled",
        "Started",
    ] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "event {reason} in {reasons:?}"
        );
    }

    // Scale up, then a template change rolls pods to a new ReplicaSet.
    deploys
        .patch(
            "web",
            &PatchParams::apply("t"),
            &Patch::Apply(deployment("web", 3, json!({"v": "2"}))),
        )
        .await
        .expect("update");
    eventually("3 updated ready pods and no old ones", || async {
        let s = deploys.get("web").await.ok()?.status?;
        let pods = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .ok()?;
        (s.ready_replicas == Some(3) && s.updated_replicas == Some(3) && pods.items.len() == 3)
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn failure_annotation_keeps_pods_failing() {
    let (_sim, client) = sim().await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    for (name, mode) in [
        ("crash", "CrashLoopBackOff"),
        ("pull", "ImagePullBackOff"),
        ("oom", "OOMKilled"),
        ("stuck", "Pending"),
    ] {
        deploys
            .patch(
                name,
                &PatchParams::apply("t"),
                &Patch::Apply(deployment(name, 1, json!({FAIL_ANNOTATION: mode}))),
            )
            .await
            .expect("deployment");
        let pod = eventually(&format!("{mode} pod"), || async {
            let pod = pods
                .list(&ListParams::default().labels(&format!("app={name}")))
                .await
                .ok()?
                .items
                .pop()?;
            let status = pod.status.clone()?;
            let settled = match mode {
                "Pending" => status
                    .conditions
                    .unwrap_or_default()
                    .iter()
                    .any(|c| c.type_ == "PodScheduled" && c.status == "False"),
                _ => status
                    .container_statuses
                    .unwrap_or_default()
                    .iter()
                    .any(|c| {
                        c.state
                            .as_ref()
                            .and_then(|s| s.waiting.as_ref())
                            .and_then(|w| w.reason.as_deref())
                            .is_some_and(|r| r != "ContainerCreating")
                    }),
            };
            settled.then_some(pod)
        })
        .await;
        let status = pod.status.expect("status");
        let waiting = status
            .container_statuses
            .clone()
            .unwrap_or_default()
            .first()
            .and_then(|c| c.state.clone()?.waiting?.reason);
        match mode {
            "CrashLoopBackOff" => {
                assert_eq!(status.phase.as_deref(), Some("Running"));
                assert_eq!(waiting.as_deref(), Some("CrashLoopBackOff"));
            }
            "OOMKilled" => {
                let cs = status.container_statuses.unwrap_or_default();
                let last = cs[0]
                    .last_state
                    .clone()
                    .and_then(|s| s.terminated)
                    .expect("last terminated");
                assert_eq!(last.reason.as_deref(), Some("OOMKilled"));
                assert_eq!(last.exit_code, 137);
            }
            "ImagePullBackOff" => {
                assert_eq!(status.phase.as_deref(), Some("Pending"));
                assert_eq!(waiting.as_deref(), Some("ImagePullBackOff"));
            }
            _ => assert_eq!(status.phase.as_deref(), Some("Pending")),
        }
        let d = deploys.get(name).await.expect("deployment");
        let s = d.status.expect("status");
        assert_eq!(
            s.ready_replicas.unwrap_or(0),
            0,
            "{mode}: no ready replicas"
        );
        let available = s
            .conditions
            .unwrap_or_default()
            .into_iter()
            .find(|c| c.type_.as_deref() == Some("Available"))
            .expect("Available");
        assert_eq!(available.status.as_deref(), Some("False"));
    }
}

fn job(name: &str, annotations: Value) -> Value {
    json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 1, "template": {
            "metadata": {"annotations": annotations},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox"}]},
        }},
    })
}

#[tokio::test]
async fn jobs_complete_or_fail_by_annotation() {
    let (_sim, client) = sim().await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    jobs.patch(
        "ok",
        &PatchParams::apply("t"),
        &Patch::Apply(job("ok", json!({}))),
    )
    .await
    .expect("job");
    jobs.patch(
        "bad",
        &PatchParams::apply("t"),
        &Patch::Apply(job("bad", json!({FAIL_ANNOTATION: "Failed"}))),
    )
    .await
    .expect("job");
    let condition = |job: &Job, kind: &str| {
        job.status
            .clone()
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == kind && c.status == "True")
    };
    let done = eventually("job ok Complete", || async {
        let j = jobs.get("ok").await.ok()?;
        condition(&j, "Complete").then_some(j)
    })
    .await;
    let status = done.status.expect("status");
    assert_eq!(status.succeeded, Some(1));
    assert!(status.completion_time.is_some());
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let job_pods = pods
        .list(&ListParams::default().labels("job-name=ok"))
        .await
        .expect("pods");
    assert_eq!(job_pods.items.len(), 1);
    assert_eq!(
        job_pods.items[0]
            .status
            .clone()
            .and_then(|s| s.phase)
            .as_deref(),
        Some("Succeeded")
    );

    let failed = eventually("job bad Failed", || async {
        let j = jobs.get("bad").await.ok()?;
        condition(&j, "Failed").then_some(j)
    })
    .await;
    assert_eq!(
        failed.status.and_then(|s| s.failed),
        Some(2),
        "backoffLimit 1 → 2 failed pods"
    );
}

#[tokio::test]
async fn shipwright_buildruns_finish_with_digest_or_failure() {
    let sim = KubeSim::start_with(Options {
        shipwright: true,
        ..Options::default()
    })
    .await
    .expect("sim");
    let client = sim.client().await.expect("client");
    let discovery = Discovery::new(client.clone())
        .run()
        .await
        .expect("discovery");
    let (run_ar, _) = discovery
        .resolve_gvk(&GroupVersionKind::gvk(
            "shipwright.io",
            "v1beta1",
            "BuildRun",
        ))
        .expect("BuildRun served");
    let build_ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("shipwright.io", "v1beta1", "Build"),
        "builds",
    );
    let builds: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &build_ar);
    let runs: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &run_ar);
    for (name, annotations) in [
        ("good", json!({})),
        ("broken", json!({FAIL_ANNOTATION: "StepFailed"})),
    ] {
        builds
            .patch(
                name,
                &PatchParams::apply("t"),
                &Patch::Apply(json!({
                    "apiVersion": "shipwright.io/v1beta1", "kind": "Build",
                    "metadata": {"name": name, "annotations": annotations},
                    "spec": {"source": {"type": "Git", "git": {"url": "https://example.com/x.git"}},
                             "strategy": {"name": "buildah", "kind": "ClusterBuildStrategy"},
                             "output": {"image": "registry.example.com/x:latest"}},
                })),
            )
            .await
            .expect("build");
        let run = DynamicObject::new(&format!("{name}-run"), &run_ar)
            .data(json!({"spec": {"build": {"name": name}}}));
        runs.create(&PostParams::default(), &run)
            .await
            .expect("buildrun created");
    }
    let finished = |name: String| {
        let runs = runs.clone();
        async move {
            let run = runs.get(&name).await.ok()?;
            let cond = run.data["status"]["conditions"]
                .as_array()?
                .iter()
                .find(|c| c["type"] == "Succeeded")?
                .clone();
            (cond["status"] != "Unknown").then_some(run)
        }
    };
    let good = eventually("good run finished", || finished("good-run".into())).await;
    assert_eq!(good.data["status"]["conditions"][0]["status"], "True");
    assert!(
        good.data["status"]["output"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:"))
    );
    let broken = eventually("broken run finished", || finished("broken-run".into())).await;
    assert_eq!(broken.data["status"]["conditions"][0]["status"], "False");
    assert_eq!(
        broken.data["status"]["failureDetails"]["reason"],
        "StepFailed"
    );

    let orphan =
        DynamicObject::new("orphan", &run_ar).data(json!({"spec": {"build": {"name": "nope"}}}));
    runs.create(&PostParams::default(), &orphan)
        .await
        .expect("orphan run");
    let orphan = eventually("orphan finished", || finished("orphan".into())).await;
    assert_eq!(
        orphan.data["status"]["conditions"][0]["reason"],
        "BuildNotFound"
    );
}

#[tokio::test]
async fn injected_faults_are_seen_by_the_kube_client() {
    let sim = KubeSim::start().await.expect("sim");
    let mut config = sim.config().await.expect("config");
    config.default_retry = false;
    let plain = Client::try_from(config).expect("client");
    let cms: Api<ConfigMap> = Api::namespaced(plain.clone(), "default");
    let http = reqwest::Client::new();
    let post = |spec: Value| {
        let http = http.clone();
        let url = format!("{}/_kubesim/faults", sim.url());
        async move {
            let response = http
                .post(url)
                .json(&spec)
                .send()
                .await
                .expect("admin reachable");
            assert!(response.status().is_success(), "fault accepted");
        }
    };

    post(json!({"fail_next": 2, "status": 503})).await;
    for _ in 0..2 {
        let status = api_status(
            cms.list(&ListParams::default())
                .await
                .expect_err("injected 503"),
        );
        assert_eq!(
            (status.code, status.reason.as_str()),
            (503, "ServiceUnavailable")
        );
    }
    cms.list(&ListParams::default())
        .await
        .expect("succeeds after the faults");

    post(json!({"fail_next": 1, "status": 500, "methods": ["PATCH"]})).await;
    cms.list(&ListParams::default())
        .await
        .expect("GET is not affected");
    let err = cms
        .patch(
            "x",
            &PatchParams::apply("t"),
            &Patch::Apply(cm("x", json!({}), json!({}))),
        )
        .await
        .expect_err("PATCH fails");
    assert_eq!(api_status(err).code, 500);

    // kube's default retry policy rides out 429/503 on its own.
    sim.faults()
        .set(&FaultSpec {
            fail_next: Some(2),
            status: Some(429),
            ..Default::default()
        })
        .expect("fault");
    let retrying: Api<ConfigMap> = Api::namespaced(sim.client().await.expect("client"), "default");
    retrying
        .list(&ListParams::default())
        .await
        .expect("retried to success");

    let counts: Value = http
        .get(format!("{}/_kubesim/requests", sim.url()))
        .send()
        .await
        .expect("counts")
        .json()
        .await
        .expect("json");
    assert_eq!(counts["faults_injected"], 5, "{counts}");
    assert_eq!(counts["by_status"]["429"], 2);

    // Latency.
    post(json!({"latency_ms": 300, "latency_for_ms": 2000})).await;
    let started = Instant::now();
    cms.list(&ListParams::default()).await.expect("slow list");
    assert!(started.elapsed() >= Duration::from_millis(300));
    http.delete(format!("{}/_kubesim/faults", sim.url()))
        .send()
        .await
        .expect("clear");

    // Refused connections, then recovery.
    post(json!({"refuse_connections_ms": 400})).await;
    let err = cms.list(&ListParams::default()).await.expect_err("refused");
    assert!(
        !matches!(err, kube::Error::Api(_)),
        "a connection error, not a status: {err:?}"
    );
    eventually("connections accepted again", || async {
        cms.list(&ListParams::default()).await.ok()
    })
    .await;
}

#[tokio::test]
async fn errors_are_status_objects() {
    let (sim, client) = sim().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let status = api_status(cms.get("nope").await.expect_err("missing"));
    assert_eq!(status.code, 404);
    assert_eq!(status.reason, "NotFound");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Failure)
    );
    assert_eq!(status.message, "configmaps \"nope\" not found");

    let unknown = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &unknown);
    assert_eq!(
        api_status(
            gadgets
                .list(&ListParams::default())
                .await
                .expect_err("unknown kind")
        )
        .code,
        404
    );

    let raw: Value = reqwest::get(format!(
        "{}/apis/apps/v1/namespaces/default/deployments/none",
        sim.url()
    ))
    .await
    .expect("raw")
    .json()
    .await
    .expect("json");
    assert_eq!(raw["kind"], "Status");
    assert_eq!(raw["apiVersion"], "v1");
    assert_eq!(raw["status"], "Failure");
    assert_eq!(raw["code"], 404);
    assert_eq!(raw["reason"], "NotFound");
    assert!(
        raw["message"]
            .as_str()
            .is_some_and(|m| m.contains("deployments.apps \"none\" not found"))
    );

    let bad: ConfigMap = serde_json::from_value(cm("Bad_Name", json!({}), json!({}))).expect("cm");
    let status = api_status(
        cms.create(&PostParams::default(), &bad)
            .await
            .expect_err("invalid name"),
    );
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
}

#[tokio::test]
async fn watch_streams_changes() {
    let (_sim, client) = sim().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let list = cms.list(&ListParams::default()).await.expect("list");
    let rv = list.metadata.resource_version.expect("list rv");
    let mut stream = cms
        .watch(&WatchParams::default().timeout(10), &rv)
        .await
        .expect("watch")
        .boxed();
    cms.patch(
        "w",
        &PatchParams::apply("t"),
        &Patch::Apply(cm("w", json!({}), json!({"a": "1"}))),
    )
    .await
    .expect("apply");
    cms.delete("w", &DeleteParams::default())
        .await
        .expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("event in time")
            .expect("stream open")
            .expect("event ok");
        match event {
            WatchEvent::Added(o) => seen.push(format!("ADDED {}", o.name_any())),
            WatchEvent::Deleted(o) => seen.push(format!("DELETED {}", o.name_any())),
            WatchEvent::Modified(o) => seen.push(format!("MODIFIED {}", o.name_any())),
            _ => {}
        }
    }
    assert_eq!(seen, vec!["ADDED w", "DELETED w"]);
}

#[tokio::test]
async fn binary_writes_kubeconfig_and_serves() {
    let dir = std::env::temp_dir().join(format!("kubesim-bin-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let kubeconfig = dir.join("kubeconfig");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args(["--listen", "127.0.0.1:0", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .args(["--token", "s3cret"])
        .kill_on_drop(true)
        .spawn()
        .expect("kubesim binary starts");
    let path = kubeconfig.clone();
    eventually("kubeconfig written", || {
        let path = path.clone();
        async move { path.exists().then_some(()) }
    })
    .await;
    brokkr_e2e::kubesim::install_crypto_provider();
    let loaded = kube::config::Kubeconfig::read_from(&kubeconfig).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(loaded, &Default::default())
        .await
        .expect("config");
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).expect("client");
    let namespaces: Api<Namespace> = Api::all(client);
    let listed = eventually("namespaces listed", || async {
        namespaces.list(&ListParams::default()).await.ok()
    })
    .await;
    assert!(listed.items.iter().any(|n| n.name_any() == "default"));
    let unauthenticated = reqwest::get(format!(
        "{}/api/v1/namespaces",
        server.trim_end_matches('/')
    ))
    .await
    .expect("raw");
    assert_eq!(unauthenticated.status(), 401, "the token is required");
    if let Some(pid) = child.id() {
        // SIGTERM: the binary stops cleanly.
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    let exit = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("exits")
        .expect("status");
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn statefulsets_and_daemonsets_run_pods() {
    use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
    let (_sim, client) = sim().await;
    let template = json!({"metadata": {"labels": {"app": "db"}},
                          "spec": {"containers": [{"name": "db", "image": "postgres:17"}]}});
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sts.patch("db", &PatchParams::apply("t"), &Patch::Apply(json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
        "spec": {"replicas": 2, "serviceName": "db", "selector": {"matchLabels": {"app": "db"}}, "template": template},
    }))).await.expect("statefulset");
    let ds: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let mut ds_template = template.clone();
    ds_template["metadata"]["labels"] = json!({"app": "agent"});
    ds.patch(
        "agent",
        &PatchParams::apply("t"),
        &Patch::Apply(json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": ds_template},
        })),
    )
    .await
    .expect("daemonset");
    eventually("statefulset ready", || async {
        (sts.get("db").await.ok()?.status?.ready_replicas == Some(2)).then_some(())
    })
    .await;
    eventually("daemonset ready", || async {
        (ds.get("agent").await.ok()?.status?.number_ready == 1).then_some(())
    })
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let mut names: Vec<String> = pods
        .list(&ListParams::default().labels("app=db"))
        .await
        .expect("pods")
        .items
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    names.sort();
    assert_eq!(names, vec!["db-0", "db-1"]);
    let agent_pods = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .expect("pods");
    assert_eq!(agent_pods.items.len(), 1);
    assert_eq!(agent_pods.items[0].owner_references()[0].kind, "DaemonSet");

    // Deleting the StatefulSet removes its pods (ownerReferences).
    sts.delete("db", &DeleteParams::default())
        .await
        .expect("delete");
    assert!(
        pods.list(&ListParams::default().labels("app=db"))
            .await
            .expect("pods")
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn status_subresource_and_finalizers() {
    let (_sim, client) = sim().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "widgets.example.com",
        &PatchParams::apply("t"),
        &Patch::Apply(widget_crd()),
    )
    .await
    .expect("crd");
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), "default", &ar);
    let applied = |size: i64| {
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"name": "w", "finalizers": ["example.com/cleanup"]},
        "spec": {"size": size}, "status": {"ignored": true}})
    };
    let w = widgets
        .patch("w", &PatchParams::apply("t"), &Patch::Apply(applied(1)))
        .await
        .expect("apply");
    assert!(
        w.data.get("status").is_none(),
        "status is not written through the main resource"
    );

    let w = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}, "spec": {"size": 99}})),
        )
        .await
        .expect("status patch");
    assert_eq!(w.data["status"]["phase"], "Ready");
    assert_eq!(
        w.data["spec"]["size"], 1,
        "a status write leaves spec alone"
    );
    let generation = w.metadata.generation;

    let w = widgets
        .patch("w", &PatchParams::apply("t"), &Patch::Apply(applied(2)))
        .await
        .expect("apply");
    assert_eq!(
        w.data["status"]["phase"], "Ready",
        "a main-resource write keeps status"
    );
    assert_eq!(w.metadata.generation, generation.map(|g| g + 1));

    // A finalizer delays deletion until it is removed.
    widgets
        .delete("w", &DeleteParams::default())
        .await
        .expect("delete");
    let marked = widgets.get("w").await.expect("still there");
    assert!(marked.metadata.deletion_timestamp.is_some());
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("finalizer removed");
    assert_eq!(
        api_status(widgets.get("w").await.expect_err("gone")).code,
        404
    );
}

#[tokio::test]
async fn kube_runtime_watcher_follows_objects() {
    use kube::runtime::{WatchStreamExt, watcher};
    let (_sim, client) = sim().await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.patch(
        "before",
        &PatchParams::apply("t"),
        &Patch::Apply(cm("before", json!({"w": "1"}), json!({}))),
    )
    .await
    .expect("apply");
    let mut stream = watcher(cms.clone(), watcher::Config::default().labels("w=1"))
        .applied_objects()
        .boxed();
    let first = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("ok");
    assert_eq!(first.name_any(), "before");
    cms.patch(
        "after",
        &PatchParams::apply("t"),
        &Patch::Apply(cm("after", json!({"w": "1"}), json!({}))),
    )
    .await
    .expect("apply");
    let second = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("in time")
        .expect("open")
        .expect("ok");
    assert_eq!(second.name_any(), "after");
}

#[tokio::test]
async fn services_get_a_cluster_ip_that_reapply_keeps() {
    use k8s_openapi::api::core::v1::Service;
    let (_sim, client) = sim().await;
    let services: Api<Service> = Api::namespaced(client.clone(), "default");
    let applied = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                         "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
    let svc = services
        .patch(
            "web",
            &PatchParams::apply("t"),
            &Patch::Apply(applied.clone()),
        )
        .await
        .expect("apply");
    let ip = svc
        .spec
        .clone()
        .and_then(|s| s.cluster_ip)
        .expect("cluster IP assigned");
    let again = services
        .patch(
            "web",
            &PatchParams::apply("t").force(),
            &Patch::Apply(applied),
        )
        .await
        .expect("re-apply");
    assert_eq!(again.resource_version(), svc.metadata.resource_version);
    assert_eq!(again.spec.and_then(|s| s.cluster_ip), Some(ip));
}

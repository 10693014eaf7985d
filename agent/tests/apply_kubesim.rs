//! Apply, prune, removal and rollback against the in-process Kubernetes simulator.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use brokkr_agent::apply::{self, ClusterView, OwnedObject, Target};
use brokkr_agent::broker::BrokerClient;
use brokkr_agent::context::AgentContext;
use brokkr_agent::labels::{DEPLOYMENT_OBJECT_LABEL, OWNER_LABEL, STACK_LABEL};
use brokkr_e2e::kubesim::KubeSim;
use brokkr_schema::config::AgentSettings;
use brokkr_schema::models::Agent;
use chrono::Utc;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn context(sim: &KubeSim) -> Arc<AgentContext> {
    let agent = Agent {
        id: Uuid::new_v4(),
        created_at: Utc::now(),
        updated_at: Utc::now(),
        deleted_at: None,
        name: "a".into(),
        cluster_name: "c".into(),
        last_heartbeat: None,
        status: brokkr_schema::models::AgentStatus::Active,
    };
    let broker = BrokerClient::new("http://127.0.0.1:9", "x", Duration::from_secs(1)).unwrap();
    let kube = sim.client().await.unwrap();
    let settings = AgentSettings {
        kube_max_retries: 6,
        ..AgentSettings::default()
    };
    AgentContext::new(settings, agent, broker, kube, CancellationToken::new())
}

async fn owned(ctx: &AgentContext, view: &ClusterView, stack: Uuid) -> Vec<OwnedObject> {
    let selector = format!("{OWNER_LABEL}={},{STACK_LABEL}={stack}", ctx.agent_id);
    apply::list_owned(ctx, view, &selector).await.unwrap()
}

const V1: &str = "\
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
  labels: {team: blue}
  annotations: {note: keep}
data: {color: red}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx}]}
";

/// A simulator with [`V1`] applied as a new stack's first deployment object.
async fn v1_applied() -> (
    KubeSim,
    Arc<AgentContext>,
    ClusterView,
    HashSet<brokkr_agent::apply::ObjectKey>,
    Target<'static>,
) {
    let sim = KubeSim::start().await.unwrap();
    let ctx = context(&sim).await;
    let mut view = ClusterView::default();
    view.refresh(&ctx).await.unwrap();
    let mut adopted = HashSet::new();
    let target = Target {
        deployment_object_id: Uuid::new_v4(),
        stack_id: Uuid::new_v4(),
        checksum: "c1",
        yaml: V1,
    };
    apply::apply_deployment(&ctx, &mut view, &target, &[], &mut adopted)
        .await
        .unwrap();
    (sim, ctx, view, adopted, target)
}

#[tokio::test]
async fn apply_stamps_prunes_and_removes_a_stack() {
    let sim = KubeSim::start().await.unwrap();
    let ctx = context(&sim).await;
    let mut view = ClusterView::default();
    view.refresh(&ctx).await.unwrap();
    let mut adopted = HashSet::new();
    let stack = Uuid::new_v4();
    let first = Uuid::new_v4();
    let target = Target {
        deployment_object_id: first,
        stack_id: stack,
        checksum: "c1",
        yaml: V1,
    };
    let entry = apply::apply_deployment(&ctx, &mut view, &target, &[], &mut adopted)
        .await
        .unwrap();
    assert_eq!(entry.objects.len(), 3);
    assert_eq!(entry.namespaces, vec!["shop".to_string()]);

    let cms: Api<ConfigMap> = Api::namespaced(ctx.kube.clone(), "shop");
    let cm = cms.get("settings").await.unwrap();
    let labels = cm.metadata.labels.unwrap();
    assert_eq!(labels["team"], "blue");
    assert_eq!(labels[STACK_LABEL], stack.to_string());
    assert_eq!(labels[OWNER_LABEL], ctx.agent_id.to_string());
    assert_eq!(cm.metadata.annotations.unwrap()["note"], "keep");
    let deployments: Api<Deployment> = Api::namespaced(ctx.kube.clone(), "shop");
    let web = deployments.get("web").await.unwrap();
    let template_labels = web.spec.template.metadata.unwrap().labels.unwrap();
    assert_eq!(template_labels[STACK_LABEL], stack.to_string());
    assert!(
        !template_labels.contains_key(DEPLOYMENT_OBJECT_LABEL),
        "pod templates carry the stack label, which stays the same across versions"
    );
    assert_eq!(owned(&ctx, &view, stack).await.len(), 3);

    // Drift: the ConfigMap deleted behind the agent's back is created again by a re-apply of
    // the same deployment object, and counted as a drift correction.
    cms.delete("settings", &Default::default()).await.unwrap();
    let previous = owned(&ctx, &view, stack).await;
    let drift_before = ctx.metrics.drift_corrections.get();
    apply::apply_deployment(&ctx, &mut view, &target, &previous, &mut adopted)
        .await
        .unwrap();
    assert!(
        cms.get_opt("settings").await.unwrap().is_some(),
        "re-created"
    );
    assert_eq!(ctx.metrics.drift_corrections.get(), drift_before + 1);
    // Nothing changed since: a re-apply corrects nothing.
    let previous = owned(&ctx, &view, stack).await;
    apply::apply_deployment(&ctx, &mut view, &target, &previous, &mut adopted)
        .await
        .unwrap();
    assert_eq!(ctx.metrics.drift_corrections.get(), drift_before + 1);
    // A field changed behind the agent's back is set back, and counted.
    let edit = json!({"data": {"color": "green"}});
    cms.patch("settings", &PatchParams::default(), &Patch::Merge(&edit))
        .await
        .unwrap();
    let previous = owned(&ctx, &view, stack).await;
    apply::apply_deployment(&ctx, &mut view, &target, &previous, &mut adopted)
        .await
        .unwrap();
    let restored = cms.get("settings").await.unwrap();
    assert_eq!(restored.data.unwrap()["color"], "red");
    assert_eq!(ctx.metrics.drift_corrections.get(), drift_before + 2);

    // Version 2 drops the ConfigMap: it is pruned, the rest stays.
    let v2 = V1.replace(
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: shop\n  labels: {team: blue}\n  annotations: {note: keep}\ndata: {color: red}\n",
        "",
    );
    let previous = owned(&ctx, &view, stack).await;
    let second = Uuid::new_v4();
    let target = Target {
        deployment_object_id: second,
        stack_id: stack,
        checksum: "c2",
        yaml: &v2,
    };
    apply::apply_deployment(&ctx, &mut view, &target, &previous, &mut adopted)
        .await
        .unwrap();
    assert!(cms.get_opt("settings").await.unwrap().is_none(), "pruned");
    assert!(deployments.get_opt("web").await.unwrap().is_some());

    // Removing the stack deletes everything, namespace last.
    let previous = owned(&ctx, &view, stack).await;
    apply::remove_stack(&ctx, &previous, &mut adopted)
        .await
        .unwrap();
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    let namespaces: Api<Namespace> = Api::all(ctx.kube.clone());
    let gone = namespaces
        .get_opt("shop")
        .await
        .unwrap()
        .is_none_or(|ns| ns.metadata.deletion_timestamp.is_some());
    assert!(gone, "namespace removed");
}

#[tokio::test]
async fn a_failed_attempt_keeps_namespaces_that_existed_and_removes_what_it_created() {
    let sim = KubeSim::start().await.unwrap();
    let ctx = context(&sim).await;
    let namespaces: Api<Namespace> = Api::all(ctx.kube.clone());
    namespaces
        .patch(
            "existing",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Namespace",
                                 "metadata": {"name": "existing"}})),
        )
        .await
        .unwrap();
    let yaml = "\
apiVersion: v1
kind: Namespace
metadata: {name: existing}
---
apiVersion: v1
kind: Namespace
metadata: {name: fresh}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ok, namespace: fresh}
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g, namespace: fresh}
";
    let mut view = ClusterView::default();
    view.refresh(&ctx).await.unwrap();
    let mut adopted = HashSet::new();
    let target = Target {
        deployment_object_id: Uuid::new_v4(),
        stack_id: Uuid::new_v4(),
        checksum: "c",
        yaml,
    };
    let err = apply::apply_deployment(&ctx, &mut view, &target, &[], &mut adopted)
        .await
        .unwrap_err();
    assert!(err.message.contains("document 3"), "{err}");
    assert!(err.message.contains("Gadget"), "{err}");
    assert_eq!(err.failed_objects, 1, "one unknown kind: {err:?}");
    // Nothing was applied: an unknown kind is found before anything changes.
    assert!(namespaces.get_opt("fresh").await.unwrap().is_none());
    assert!(namespaces.get_opt("existing").await.unwrap().is_some());

    // An apply that fails half-way (a namespace that does not exist) rolls back what it created.
    let yaml = "\
apiVersion: v1
kind: Namespace
metadata: {name: existing}
---
apiVersion: v1
kind: Namespace
metadata: {name: fresh}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: ok, namespace: fresh}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: bad, namespace: nowhere}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: worse, namespace: nowhere}
";
    let target = Target {
        deployment_object_id: Uuid::new_v4(),
        stack_id: Uuid::new_v4(),
        checksum: "c",
        yaml,
    };
    let err = apply::apply_deployment(&ctx, &mut view, &target, &[], &mut adopted)
        .await
        .unwrap_err();
    assert!(err.message.contains("document 3"), "{err}");
    assert!(err.message.contains("document 4"), "{err}");
    // A count of the objects that failed, not a flag.
    assert_eq!(
        err.failed_objects, 2,
        "two ConfigMaps in a missing namespace: {err:?}"
    );
    let existing = namespaces.get_opt("existing").await.unwrap();
    assert!(
        existing.is_some_and(|ns| ns.metadata.deletion_timestamp.is_none()),
        "a namespace that existed before is never deleted"
    );
    let labels = namespaces
        .get("existing")
        .await
        .unwrap()
        .metadata
        .labels
        .unwrap_or_default();
    assert!(
        !labels.contains_key(OWNER_LABEL),
        "the failed attempt released the namespace it took over: {labels:?}"
    );
    let fresh_gone = namespaces
        .get_opt("fresh")
        .await
        .unwrap()
        .is_none_or(|ns| ns.metadata.deletion_timestamp.is_some());
    assert!(fresh_gone, "the namespace the attempt created is removed");
}

#[tokio::test]
async fn crds_are_established_before_their_custom_resources_are_applied() {
    let sim = KubeSim::start().await.unwrap();
    let ctx = context(&sim).await;
    let yaml = "\
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: tools}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
---
apiVersion: v1
kind: Namespace
metadata: {name: tools}
";
    let mut view = ClusterView::default();
    view.refresh(&ctx).await.unwrap();
    let mut adopted = HashSet::new();
    let stack = Uuid::new_v4();
    let target = Target {
        deployment_object_id: Uuid::new_v4(),
        stack_id: stack,
        checksum: "c",
        yaml,
    };
    let entry = apply::apply_deployment(&ctx, &mut view, &target, &[], &mut adopted)
        .await
        .unwrap();
    let kinds: Vec<&str> = entry.objects.iter().map(|o| o.kind.as_str()).collect();
    assert_eq!(kinds, ["Namespace", "CustomResourceDefinition", "Widget"]);
    let (resource, _) = view.resolve("example.com", "v1", "Widget").unwrap();
    let widgets: Api<kube::api::DynamicObject> =
        Api::namespaced_with(ctx.kube.clone(), "tools", &resource);
    let w1 = widgets.get("w1").await.unwrap();
    assert_eq!(w1.data["spec"]["size"], 3);
    // The owner listing finds all three, including the custom resource.
    assert_eq!(owned(&ctx, &view, stack).await.len(), 3);
}

#[tokio::test]
async fn prune_leaves_other_owners_objects_alone_and_releases_adopted_ones() {
    let sim = KubeSim::start().await.unwrap();
    let ctx = context(&sim).await;
    let stack = Uuid::new_v4();
    let cms: Api<ConfigMap> = Api::namespaced(ctx.kube.clone(), "default");
    let apply_cm = |name: &str, labels: serde_json::Value, owner_refs: serde_json::Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "labels": labels, "ownerReferences": owner_refs}})
    };
    // Someone else's object carrying the same stack label.
    cms.patch(
        "theirs",
        &PatchParams::apply("other"),
        &Patch::Apply(apply_cm(
            "theirs",
            json!({STACK_LABEL: stack.to_string(), OWNER_LABEL: Uuid::new_v4().to_string()}),
            json!([]),
        )),
    )
    .await
    .unwrap();
    // An object that existed before the agent, then taken into the stack.
    cms.patch(
        "pre-existing",
        &PatchParams::apply("other"),
        &Patch::Apply(apply_cm("pre-existing", json!({"keep": "me"}), json!([]))),
    )
    .await
    .unwrap();
    let mut view = ClusterView::default();
    view.refresh(&ctx).await.unwrap();
    let mut adopted = HashSet::new();
    let v1 = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: pre-existing, namespace: default}
data: {a: b}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: mine, namespace: default}
";
    let target = Target {
        deployment_object_id: Uuid::new_v4(),
        stack_id: stack,
        checksum: "c1",
        yaml: v1,
    };
    apply::apply_deployment(&ctx, &mut view, &target, &[], &mut adopted)
        .await
        .unwrap();
    let listed = owned(&ctx, &view, stack).await;
    assert_eq!(listed.len(), 2, "only this agent's objects: {listed:?}");
    assert!(
        listed
            .iter()
            .any(|o| o.key.name == "pre-existing" && o.adopted)
    );

    // The next version holds neither: "mine" is deleted, "pre-existing" only released.
    let v2 = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: default}\n";
    let target = Target {
        deployment_object_id: Uuid::new_v4(),
        stack_id: stack,
        checksum: "c2",
        yaml: v2,
    };
    apply::apply_deployment(&ctx, &mut view, &target, &listed, &mut adopted)
        .await
        .unwrap();
    assert!(cms.get_opt("mine").await.unwrap().is_none());
    let kept = cms.get("pre-existing").await.unwrap();
    let labels = kept.metadata.labels.unwrap_or_default();
    assert_eq!(labels.get("keep").map(String::as_str), Some("me"));
    assert!(!labels.contains_key(OWNER_LABEL), "released: {labels:?}");
    assert!(
        cms.get_opt("theirs").await.unwrap().is_some(),
        "never touched"
    );
}

/// A new deployment object that changes only a ConfigMap must not touch the Deployment's pod
/// template: pods roll only when their own spec changes.
#[tokio::test]
async fn a_new_version_leaves_unchanged_pod_templates_alone() {
    let (_sim, ctx, mut view, mut adopted, first) = v1_applied().await;
    let stack = first.stack_id;
    let deployments: Api<Deployment> = Api::namespaced(ctx.kube.clone(), "shop");
    let before = deployments.get("web").await.unwrap();

    let v2 = V1.replace("color: red", "color: blue");
    let second = Target {
        deployment_object_id: Uuid::new_v4(),
        stack_id: stack,
        checksum: "c2",
        yaml: &v2,
    };
    apply::apply_deployment(&ctx, &mut view, &second, &[], &mut adopted)
        .await
        .unwrap();
    let after = deployments.get("web").await.unwrap();
    assert_eq!(
        after.spec.template, before.spec.template,
        "the pod template must not change when only a ConfigMap did"
    );
    assert_eq!(
        after.metadata.generation, before.metadata.generation,
        "no new rollout"
    );
    // The Deployment itself is stamped with the new deployment object.
    assert_eq!(
        after.metadata.labels.unwrap()[DEPLOYMENT_OBJECT_LABEL],
        second.deployment_object_id.to_string()
    );
    let cms: Api<ConfigMap> = Api::namespaced(ctx.kube.clone(), "shop");
    assert_eq!(
        cms.get("settings").await.unwrap().data.unwrap()["color"],
        "blue"
    );
}

#[tokio::test]
async fn reapplying_counts_only_objects_changed_or_deleted_behind_the_agents_back() {
    let (_sim, ctx, mut view, mut adopted, target) = v1_applied().await;
    let stack = target.stack_id;
    let corrections = || ctx.metrics.drift_corrections.get();

    // A drift pass over an untouched stack corrects nothing.
    let previous = owned(&ctx, &view, stack).await;
    apply::apply_deployment(&ctx, &mut view, &target, &previous, &mut adopted)
        .await
        .unwrap();
    assert_eq!(corrections(), 0, "nothing had drifted");

    // Someone edits the ConfigMap: the next pass puts it back and counts it.
    let cms: Api<ConfigMap> = Api::namespaced(ctx.kube.clone(), "shop");
    cms.patch(
        "settings",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"color": "green"}})),
    )
    .await
    .unwrap();
    let previous = owned(&ctx, &view, stack).await;
    apply::apply_deployment(&ctx, &mut view, &target, &previous, &mut adopted)
        .await
        .unwrap();
    assert_eq!(corrections(), 1);
    let cm = cms.get("settings").await.unwrap();
    assert_eq!(cm.data.unwrap()["color"], "red");

    // Someone deletes it: the next pass creates it again and counts it.
    cms.delete("settings", &Default::default()).await.unwrap();
    let previous = owned(&ctx, &view, stack).await;
    apply::apply_deployment(&ctx, &mut view, &target, &previous, &mut adopted)
        .await
        .unwrap();
    assert_eq!(corrections(), 2);
    assert!(cms.get_opt("settings").await.unwrap().is_some());

    // A new version changes objects too, but that is not drift.
    let v2 = V1.replace("color: red", "color: blue");
    let next = Target {
        deployment_object_id: Uuid::new_v4(),
        stack_id: stack,
        checksum: "c2",
        yaml: &v2,
    };
    let previous = owned(&ctx, &view, stack).await;
    apply::apply_deployment(&ctx, &mut view, &next, &previous, &mut adopted)
        .await
        .unwrap();
    assert_eq!(corrections(), 2, "a new version is not a correction");
}

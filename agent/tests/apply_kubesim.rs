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
        status: "ACTIVE".into(),
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
    assert_eq!(template_labels[DEPLOYMENT_OBJECT_LABEL], first.to_string());
    assert_eq!(owned(&ctx, &view, stack).await.len(), 3);

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
    assert!(err.0.contains("document 3"), "{err}");
    assert!(err.0.contains("Gadget"), "{err}");
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
    assert!(err.0.contains("document 3"), "{err}");
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

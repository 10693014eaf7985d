"""Checks of deploy/: charts rendered with Helm's own engine (helm-python-sdk), linted, validated
strictly against the Kubernetes 1.30 schemas, their configuration accepted by the binaries, the
agent's RBAC compared with what its code does, the values schemas refusing bad values, the
dashboards and alert rules of deploy/observability templated as they are, the
Containerfile linted, and the agent chart applied to kubesim with an agent configured as the
chart configures it reconciling a stack. Run by scripts/check-charts.sh.

    python3 check_charts.py --bin-dir target/debug [--skip-kubesim]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import helm_python as helm
import kubernetes_validate
import yaml

import agent_rbac

ROOT = Path(__file__).resolve().parents[3]
CHARTS = ROOT / "deploy" / "charts"
KUBE_VERSION = "1.30.0"
RELEASE = {"name": "brokkr", "namespace": "brokkr"}

# The agent chart has required values; this is the least a user must give.
AGENT_REQUIRED = {
    "brokerUrl": "http://brokkr-broker.brokkr.svc:3000",
    "agent": {"name": "edge-01", "clusterName": "edge"},
    "pak": {"existingSecret": "brokkr-agent-pak", "key": "pak"},
}
BROKKR_REQUIRED = {"database": {"existingSecret": "brokkr-database"}}
REQUIRED = {"brokkr": BROKKR_REQUIRED, "brokkr-agent": AGENT_REQUIRED}

# Minimal strict shapes of the CRD kinds the charts can render (not in the Kubernetes schemas).
CRD_SPEC_KEYS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): {"selector", "endpoints"},
    ("monitoring.coreos.com/v1", "PodMonitor"): {"selector", "podMetricsEndpoints"},
    ("monitoring.coreos.com/v1", "PrometheusRule"): {"groups"},
    ("keda.sh/v1alpha1", "ScaledObject"): {
        "scaleTargetRef", "minReplicaCount", "maxReplicaCount", "pollingInterval",
        "cooldownPeriod", "triggers",
    },
}

failures: list[str] = []


def check(name: str):
    def wrap(fn):
        def run(*args, **kwargs):
            try:
                fn(*args, **kwargs)
                print(f"ok   {name}")
            except Exception as e:  # noqa: BLE001 - every failure is reported, then the run fails
                failures.append(f"{name}: {e}")
                print(f"FAIL {name}: {e}")
        return run
    return wrap


def deep_merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def values_files(chart: str) -> list[tuple[str, dict]]:
    """(label, values): the defaults (plus required values) and every example file."""
    out = [("defaults", dict(REQUIRED[chart]))]
    for path in sorted((CHARTS / chart / "examples").glob("*.yaml")):
        out.append((path.name, yaml.safe_load(path.read_text()) or {}))
    return out


def render(chart: str, values: dict) -> list[dict]:
    """Renders like `helm install --dry-run`: schema first, then templates; returns the objects."""
    c = helm.Chart.load(str(CHARTS / chart))
    c.validate_schema(values)
    manifests = c.render(values, is_install=True, **RELEASE)
    objects = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.append(doc)
    return objects


@check("helm lint (strict, Kubernetes 1.30)")
def check_lint() -> None:
    for chart in REQUIRED:
        for label, values in values_files(chart):
            report = helm.lint(str(CHARTS / chart), values, strict=True, kube_version="v" + KUBE_VERSION)
            bad = [m for m in report.get("messages", []) if m["severity"] >= 2]
            if report.get("errors") or bad:
                raise AssertionError(f"{chart} {label}: {report.get('errors')} {bad}")


def validate_object(obj: dict) -> None:
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key in CRD_SPEC_KEYS:
        extra = set(obj.get("spec", {})) - CRD_SPEC_KEYS[key]
        if extra or set(obj) - {"apiVersion", "kind", "metadata", "spec"}:
            raise AssertionError(f"{key[1]} has unknown fields {sorted(extra)}")
        return
    version = kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    if version != "1.30":
        raise AssertionError(f"validated against {version}, not 1.30")


@check("every rendered object valid against the Kubernetes 1.30 schemas (strict)")
def check_schemas() -> None:
    for chart in REQUIRED:
        for label, values in values_files(chart):
            objects = render(chart, values)
            if not objects:
                raise AssertionError(f"{chart} {label} renders nothing")
            for obj in objects:
                try:
                    validate_object(obj)
                except Exception as e:
                    raise AssertionError(
                        f"{chart} {label}: {obj.get('kind')} {obj['metadata'].get('name')}: {e}"
                    ) from None


def containers_mounting(objects: list[dict], configmap: str) -> list[dict]:
    """The containers of Deployments whose pods mount `configmap`."""
    out = []
    for obj in objects:
        if obj["kind"] != "Deployment":
            continue
        spec = obj["spec"]["template"]["spec"]
        if any(v.get("configMap", {}).get("name") == configmap for v in spec.get("volumes", [])):
            out.extend(spec["containers"])
    return out


# Stand-ins for Secret values, shaped as the real ones must be.
SECRET_STANDINS = {
    "BROKKR__DATABASE__URL": "postgres://brokkr:secret@db.internal:5432/brokkr",
    "BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY": "ab" * 32,
    "BROKKR__BROKER__PAK_HASH": "cd" * 32,
    "BROKKR__AGENT__PAK": "brokkr_BRstandin_standinstandinstandinstandin",
}


def container_env(container: dict, config_path: Path) -> dict[str, str]:
    """The container's environment as the process sees it, Secrets replaced by stand-ins."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    for var in container.get("env", []):
        name = var["name"]
        if "value" in var:
            env[name] = var["value"]
        elif var.get("valueFrom", {}).get("secretKeyRef", {}).get("optional"):
            continue  # absent unless the operator adds it
        elif name in SECRET_STANDINS:
            env[name] = SECRET_STANDINS[name]
        else:
            raise AssertionError(f"no stand-in for {name}; add one to SECRET_STANDINS")
    env["BROKKR_CONFIG_FILE"] = str(config_path)
    return env


CONFIG_BINARIES = {"brokkr": ("brokkr-broker", "brokkr.toml"), "brokkr-agent": ("brokkr-agent", "agent.toml")}


def config_check(bin_dir: Path, tmp: Path, chart: str, label: str, objects: list[dict]) -> int:
    """Runs `<binary> config check` on the chart's rendered TOML with the environment of every
    container that mounts it; returns how many containers were checked."""
    binary, key = CONFIG_BINARIES[chart]
    checked = 0
    for cm in (o for o in objects if o["kind"] == "ConfigMap" and key in o.get("data", {})):
        path = tmp / f"{chart}-{label}-{key}"
        path.write_text(cm["data"][key])
        containers = containers_mounting(objects, cm["metadata"]["name"])
        if not containers:
            raise AssertionError(f"{chart} {label}: no Deployment mounts {key}")
        for container in containers:
            env = container_env(container, path)
            out = subprocess.run(
                [str(bin_dir / binary), "config", "check", str(path)],
                env=env, capture_output=True, text=True, timeout=30,
            )
            if out.returncode != 0:
                raise AssertionError(
                    f"{chart} {label} ({container['name']}): {out.stderr.strip()}\n{cm['data'][key]}"
                )
            checked += 1
    return checked


@check("rendered configuration accepted by `brokkr-broker config check` / `brokkr-agent config check`")
def check_config(bin_dir: Path) -> None:
    checked = 0
    with tempfile.TemporaryDirectory() as tmp:
        for chart in CONFIG_BINARIES:
            for label, values in values_files(chart):
                checked += config_check(bin_dir, Path(tmp), chart, label, render(chart, values))
    if checked < 8:
        raise AssertionError(f"only {checked} configurations checked")


# --- README configuration table <-> values schemas -----------------------------------------

#: Keys of the README's configuration table that a chart sets itself (its values schema refuses
#: them under `config`), with the value that sets them instead.
CHART_OWNED = {
    "brokkr": {
        "database.url": "a Secret (database.existingSecret, or database.url stored in one)",
        "database.max_connections": "broker.databaseConnections / worker.databaseConnections, per process",
        "database.run_migrations": "false while migrations.enabled (the pre-install/pre-upgrade Job migrates)",
        "broker.listen_addr": "broker.containerPort, which the Service and probes use",
        "worker.listen_addr": "worker.containerPort, which the Service and probes use",
        "broker.pak_hash": "admin.existingSecret (a Secret, never a value)",
        "broker.webhook_encryption_key": "webhookEncryption.existingSecret (or the key generated once)",
        "broker.webhook_previous_encryption_keys": "webhookEncryption.previousKeysKey of that Secret",
    },
    "brokkr-agent": {
        "agent.broker_url": "brokerUrl",
        "agent.pak": "pak.existingSecret (a Secret, never a value)",
        "agent.agent_name": "agent.name",
        "agent.cluster_name": "agent.clusterName",
        "agent.generator_ids": "agent.generatorIds",
        "agent.namespaces": "rbac.namespaces in rbac.mode=namespaced (the Roles must match)",
        "agent.cluster_resources": "rbac.clusterResources (the ClusterRole must match)",
        "agent.health_port": "healthPort, which the probes, PodMonitor and NetworkPolicy use",
        "agent.health_bind_address": "0.0.0.0, so the kubelet's probes reach it",
        "agent.kubeconfig_path": "none: the agent uses its ServiceAccount (in-cluster configuration)",
    },
}

#: Sample values for keys whose README default is not a value (`unset`, `empty`).
CONFIG_SAMPLES = {
    "database.schema": "tenant_a",
    "broker.template_renderer": "/usr/local/bin/brokkr-broker",
    "telemetry.otlp_endpoint": "http://otel-collector.monitoring.svc:4317",
}


def readme_config_table() -> tuple[dict[str, str], set[str]]:
    """The README's configuration table: {key: default cell}, the per-process telemetry rows
    expanded, and the sections the agent reads (from the sentence above the table)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    agent_sentence = re.search(r"The agent reads the (.*?) sections", section)
    if not agent_sentence:
        raise AssertionError("README: no 'The agent reads the [...] sections' sentence")
    agent_sections = set(re.findall(r"`\[(\w+)\]`", agent_sentence.group(1)))
    rows: dict[str, str] = {}
    wildcards: list[tuple[list[str], str]] = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        keys = re.findall(r"`([a-z_.*]+)`", cells[0])
        if any(k.endswith(".*") for k in keys):
            wildcards.append(([k[:-2] for k in keys], cells[1]))
        else:
            rows.update({k: cells[1] for k in keys})
    for prefixes, default in wildcards:
        # `telemetry.broker.*`: the keys of `telemetry` listed above it.
        for prefix in prefixes:
            parent = prefix.rsplit(".", 1)[0]
            children = [k for k in rows if k.rsplit(".", 1)[0] == parent]
            if not children:
                raise AssertionError(f"README: {prefix}.* expands to nothing")
            rows.update({f"{prefix}.{k.rsplit('.', 1)[1]}": default for k in children})
    if len(rows) < 60:
        raise AssertionError(f"README configuration table: only {len(rows)} keys parsed")
    return rows, agent_sections


def sample(key: str, rows: dict[str, str], owned: bool = False):
    """A value for `key`: CONFIG_SAMPLES, else its README default (a per-process telemetry
    override takes the value of the key it overrides)."""
    parts = key.split(".")
    key = f"{parts[0]}.{parts[2]}" if len(parts) == 3 else key
    if key in CONFIG_SAMPLES:
        return CONFIG_SAMPLES[key]
    default = rows[key]
    m = re.match(r"`([^`]*)`", default)
    if not m and owned:
        return "set-by-the-chart"
    if not m:
        raise AssertionError(f"README {key}: default {default!r} is no value; add a sample to CONFIG_SAMPLES")
    try:
        return json.loads(m.group(1))
    except ValueError:
        return m.group(1)


def nest(key: str, value) -> dict:
    out = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def schema_config_keys(chart: str) -> set[str]:
    """Every leaf key the chart's values schema accepts under `config`."""
    schema = json.loads((CHARTS / chart / "values.schema.json").read_text())

    def leaves(node: dict, prefix: str) -> set[str]:
        props = node.get("properties")
        if node.get("type") != "object" or props is None:
            return {prefix}
        return set().union(*(leaves(v, f"{prefix}.{k}" if prefix else k) for k, v in props.items()))
    return leaves(schema["properties"]["config"], "")


@check("every key of the README's configuration table is accepted by its chart's values schema "
       "(or owned by the chart), reaches the rendered TOML and passes `config check`")
def check_readme_config_keys(bin_dir: Path) -> None:
    rows, agent_sections = readme_config_table()
    problems = []
    with tempfile.TemporaryDirectory() as tmp:
        for chart in ("brokkr", "brokkr-agent"):
            c = helm.Chart.load(str(CHARTS / chart))
            # The broker and the worker read every section but `[agent]`; the agent its own.
            mine = {k: d for k, d in rows.items()
                    if (k.split(".")[0] in agent_sections if chart == "brokkr-agent"
                        else k.split(".")[0] != "agent")}
            owned = CHART_OWNED[chart]
            for key in sorted(set(owned) - set(mine)):
                problems.append(f"{chart}: CHART_OWNED lists {key}, which the README table does not")
            config: dict = {}
            for key in sorted(mine):
                value = sample(key, rows, key in owned)
                try:
                    c.validate_schema(deep_merge(REQUIRED[chart], {"config": nest(key, value)}))
                    accepted = True
                except helm.HelmValuesError as e:
                    accepted, why = False, str(e).strip().splitlines()[-1]
                if key in owned and accepted:
                    problems.append(f"{chart}: config.{key} is accepted, but the chart owns it ({owned[key]})")
                elif key not in owned and not accepted:
                    problems.append(f"{chart}: README key {key} = {value!r} refused by values.schema.json: {why}")
                elif key not in owned:
                    config = deep_merge(config, nest(key, value))
            undocumented = schema_config_keys(chart) - set(mine)
            for key in sorted(undocumented):
                problems.append(f"{chart}: values.schema.json accepts config.{key}, not in the README table")
            if problems:
                continue
            # All of them at once: rendered into the TOML as given, and accepted by the binary.
            objects = render(chart, deep_merge(REQUIRED[chart], {"config": config}))
            _, file_key = CONFIG_BINARIES[chart]
            toml = tomllib.loads(next(o for o in objects if o["kind"] == "ConfigMap"
                                      and file_key in o.get("data", {}))["data"][file_key])
            for key in sorted(k for k in mine if k not in owned):
                got = toml
                for part in key.split("."):
                    got = got.get(part, {}) if isinstance(got, dict) else None
                if got != sample(key, rows):
                    problems.append(f"{chart}: {key} renders as {got!r}, set to {sample(key, rows)!r}")
            config_check(bin_dir, Path(tmp), chart, "readme-table", objects)
    if problems:
        raise AssertionError("\n  " + "\n  ".join(problems))


def agent_rules(values: dict) -> list[tuple[str, list[dict]]]:
    objects = render("brokkr-agent", deep_merge(AGENT_REQUIRED, values))
    return [(f"{o['kind']}/{o['metadata'].get('namespace', '')}", o["rules"])
            for o in objects if o["kind"] in ("ClusterRole", "Role")]


def check_builtin_resources(rules: list[dict]) -> None:
    """`rbac.resources` names top-level resources of the Kubernetes 1.30 API, each in its group."""
    defs = json.loads((Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
                       / f"v{KUBE_VERSION}-local-strict" / "_definitions.json").read_text())["$defs"]
    known = set()
    for d in defs.values():
        for gvk in d.get("x-kubernetes-group-version-kind", []):
            kind = gvk["kind"].lower()
            plural = (kind if kind.endswith("endpoints") else kind[:-1] + "ies" if kind.endswith("y")
                      else kind + "es" if kind.endswith("s") else kind + "s")
            known.add((gvk["group"], plural))
    unknown = [(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]
               if (g, r) not in known]
    if unknown:
        raise AssertionError(f"rbac.resources names no Kubernetes {KUBE_VERSION} resource: {unknown}")


@check("agent RBAC grants exactly what agent/src does (cluster and namespaced, builds on/off)")
def check_rbac() -> None:
    agent_rbac.check_table_matches_code(ROOT / "agent" / "src")
    chart_values = helm.Chart.load(str(CHARTS / "brokkr-agent")).values
    check_builtin_resources(chart_values["rbac"]["resources"])
    custom = [{"apiGroups": ["cert-manager.io"], "resources": ["certificates", "issuers"]}]
    for builds in (False, True):
        work = {"workOrders": {"builds": {"enabled": builds}}}
        for extra in ([], custom):
            roles = agent_rules(deep_merge(work, {"rbac": {"extraResources": extra}}))
            if [k for k, _ in roles] != ["ClusterRole/"]:
                raise AssertionError(f"cluster mode renders {[k for k, _ in roles]}")
            kinds = [(g, r) for rule in chart_values["rbac"]["resources"] + extra
                     for g in rule["apiGroups"] for r in rule["resources"]]
            agent_rbac.compare(roles[0][1], builds, kinds)
        # The wildcard opt-in: its subresource grants fail the comparison unless acknowledged.
        roles = agent_rules(deep_merge(work, {"rbac": {"allResources": True}}))
        agent_rbac.compare(roles[0][1], builds, None, acknowledged=("rbac.allResources",))
        try:
            agent_rbac.compare(roles[0][1], builds, None)
        except AssertionError as e:
            if "subresources the agent never uses" not in str(e) or "*/*" not in str(e):
                raise
        else:
            raise AssertionError("rbac.allResources: the grant of every subresource went unnoticed")
        namespaced = {"rbac": {"mode": "namespaced", "namespaces": ["apps", "jobs"]},
                      "workOrders": {"builds": {"enabled": builds}}}
        roles = agent_rules(namespaced)
        if sorted(k for k, _ in roles) != ["Role/apps", "Role/jobs"]:
            raise AssertionError(f"namespaced mode renders {[k for k, _ in roles]}")
        kinds = [(g, r) for rule in chart_values["rbac"]["namespacedResources"]
                 for g in rule["apiGroups"] for r in rule["resources"]]
        for _, rules in roles:
            agent_rbac.compare(rules, builds, kinds)
    for rule, what in [({"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["get"]}, "pods/exec"),
                       ({"apiGroups": ["apps"], "resources": ["*"], "verbs": ["patch"]}, "*/*")]:
        try:
            agent_rbac.compare(roles[0][1] + [rule], True, kinds)
        except AssertionError as e:
            if what not in str(e):
                raise
        else:
            raise AssertionError(f"a grant of {what} went unnoticed")
    # Settings of one mode are refused in the other rather than ignored.
    for values, message in [
        ({"rbac": {"mode": "namespaced", "namespaces": ["apps"], "allResources": True}},
         "rbac.allResources and rbac.extraResources apply to rbac.mode=cluster"),
        ({"rbac": {"mode": "namespaced", "namespaces": ["apps"], "extraResources": custom}},
         "rbac.allResources and rbac.extraResources apply to rbac.mode=cluster"),
    ]:
        try:
            render("brokkr-agent", deep_merge(AGENT_REQUIRED, values))
        except Exception as e:  # noqa: BLE001 - the chart's `fail`, whatever the SDK calls it
            if message not in str(e):
                raise AssertionError(f"{values}: {e}") from None
        else:
            raise AssertionError(f"{values} accepted, though it would be ignored")
    # The namespaced Roles hold only because the agent stays in the same namespaces.
    agent_rbac.check_cluster_wide_sites(ROOT / "agent" / "src")
    granted = [{"apiGroups": [""], "resources": ["namespaces"]},
               {"apiGroups": ["apiextensions.k8s.io"], "resources": ["customresourcedefinitions"]}]
    cases = [
        ({"rbac": {"mode": "namespaced", "namespaces": ["apps", "jobs"]}}, ["apps", "jobs"], []),
        ({"rbac": {"mode": "namespaced", "namespaces": ["apps"], "clusterResources": granted}},
         ["apps"], ["namespaces", "customresourcedefinitions.apiextensions.k8s.io"]),
        ({}, [], []),
    ]
    try:
        render("brokkr-agent", deep_merge(AGENT_REQUIRED, {"rbac": {"clusterResources": granted}}))
    except Exception as e:  # noqa: BLE001 - the chart's `fail`, whatever the SDK calls it
        if "rbac.clusterResources applies to rbac.mode=namespaced" not in str(e):
            raise AssertionError(f"cluster mode with clusterResources: {e}") from None
    else:
        raise AssertionError("cluster mode accepted rbac.clusterResources, which it would ignore")
    for values, namespaces, cluster in cases:
        objects = render("brokkr-agent", deep_merge(AGENT_REQUIRED, values))
        config = next(o for o in objects if o["kind"] == "ConfigMap")
        agent = tomllib.loads(config["data"]["agent.toml"])["agent"]
        if (agent["namespaces"], agent["cluster_resources"]) != (namespaces, cluster):
            raise AssertionError(f"{values}: agent.namespaces/cluster_resources render "
                                 f"{agent['namespaces']}/{agent['cluster_resources']}")
        if namespaces:
            # Granted cluster-scoped resources: a ClusterRole with exactly the agent's four verbs
            # on them, and nothing cluster-wide otherwise.
            roles = [o for o in objects if o["kind"] == "ClusterRole"]
            triples = {(g, r, v) for role in roles for rule in role["rules"]
                       for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}
            expected = {(g, r, v) for rule in values["rbac"].get("clusterResources", [])
                        for g in rule["apiGroups"] for r in rule["resources"]
                        for v in ("get", "list", "patch", "delete")}
            if triples != expected:
                raise AssertionError(f"{values}: cluster-wide grants {sorted(triples)}, "
                                     f"expected {sorted(expected)}")


def agent_egress(values: dict) -> list[dict]:
    objects = render("brokkr-agent", deep_merge(AGENT_REQUIRED, values))
    return next(o for o in objects if o["kind"] == "NetworkPolicy")["spec"]["egress"]


def egress_targets(egress: list[dict]) -> list[tuple[list[str] | None, list[int]]]:
    """(CIDRs or None for any address, ports) of every egress rule but DNS."""
    out = []
    for rule in egress:
        ports = [p["port"] for p in rule["ports"]]
        if ports == [53, 53]:
            if [set(peer) for peer in rule.get("to", [])] != [{"namespaceSelector", "podSelector"}]:
                raise AssertionError(f"DNS rule not limited to the DNS pods: {rule}")
            continue
        to = rule.get("to")
        out.append((None if to is None else [peer["ipBlock"]["cidr"] for peer in to], ports))
    return out


@check("agent NetworkPolicy: egress only to the given CIDRs, the broker port follows brokerUrl, "
       "no CIDRs refused unless allowAnyDestination")
def check_agent_network_policy() -> None:
    prod = yaml.safe_load((CHARTS / "brokkr-agent" / "examples" / "values-prod.yaml").read_text())
    got = egress_targets(agent_egress(prod))
    if got != [(["10.0.0.1/32"], [443, 6443]), (["203.0.113.10/32"], [443])]:
        raise AssertionError(f"values-prod.yaml egress {got}")
    cidrs = {"enabled": True, "broker": {"cidrs": ["10.1.2.3/32"]}, "apiServer": {"cidrs": ["10.0.0.1/32"]}}
    for url, ports in [("http://brokkr-broker.brokkr.svc:3000", [3000]), ("http://broker.internal", [80]),
                       ("https://brokkr.example.com", [443]), ("https://brokkr.example.com:8443/", [8443]),
                       ("https://[2001:db8::1]:9443", [9443]), ("https://[2001:db8::1]", [443])]:
        got = egress_targets(agent_egress({"brokerUrl": url, "networkPolicy": cidrs}))
        if got != [(["10.0.0.1/32"], [443, 6443]), (["10.1.2.3/32"], ports)]:
            raise AssertionError(f"brokerUrl {url}: egress {got}, expected the broker on {ports}")
    # A proxy in between: its port, given explicitly.
    proxy = deep_merge(cidrs, {"broker": {"ports": [3128]}})
    got = egress_targets(agent_egress({"networkPolicy": proxy}))[1]
    if got != (["10.1.2.3/32"], [3128]):
        raise AssertionError(f"networkPolicy.broker.ports not used: {got}")
    # No CIDRs: refused (schema, and the template if the schema is skipped) ...
    c = helm.Chart.load(str(CHARTS / "brokkr-agent"))
    for missing in ("broker", "apiServer"):
        values = deep_merge(AGENT_REQUIRED, {"networkPolicy": deep_merge(cidrs, {missing: {"cidrs": []}})})
        try:
            c.validate_schema(values)
        except helm.HelmValuesError as e:
            if "cidrs" not in str(e):
                raise AssertionError(f"refusal of empty {missing}.cidrs does not name cidrs: {e}") from None
        else:
            raise AssertionError(f"schema accepted networkPolicy.{missing}.cidrs = [] without allowAnyDestination")
        with tempfile.TemporaryDirectory() as tmp:  # the chart without its schema
            shutil.copytree(CHARTS / "brokkr-agent", Path(tmp) / "brokkr-agent")
            (Path(tmp) / "brokkr-agent" / "values.schema.json").unlink()
            try:
                helm.Chart.load(str(Path(tmp) / "brokkr-agent")).render(values, is_install=True, **RELEASE)
            except Exception as e:  # noqa: BLE001 - the chart's `fail`, whatever the SDK calls it
                if f"networkPolicy.{missing}.cidrs is empty" not in str(e):
                    raise AssertionError(f"empty {missing}.cidrs: {e}") from None
            else:
                raise AssertionError(f"template rendered networkPolicy.{missing}.cidrs = [] to any address")
    # ... unless the opt-out says so, and then only that target is open.
    values = {"networkPolicy": {"enabled": True, "allowAnyDestination": True,
                                "apiServer": {"cidrs": ["10.0.0.1/32"]}}}
    got = egress_targets(agent_egress(values))
    if got != [(["10.0.0.1/32"], [443, 6443]), (None, [3000])]:
        raise AssertionError(f"allowAnyDestination: egress {got}")


# --- README "Install on Kubernetes": the Secrets it creates are the ones its installs use ----

#: Stand-ins for the shell variables of the README's commands.
README_VARIABLES = {"$GENERATOR_ID": "6f1c2a4e-8b3d-4c5e-9a7f-0d1e2f3a4b5c"}


def readme_install_commands() -> tuple[str, list[list[str]]]:
    """The README's "Install on Kubernetes" section and the commands of its bash blocks (split
    as the shell would, continuation lines joined)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Install on Kubernetes\n", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", section, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(shlex.split(line))
    return section, commands


def set_value(text: str):
    if text.startswith("{") and text.endswith("}"):
        return [set_value(v) for v in text[1:-1].split(",") if v]
    return {"true": True, "false": False}.get(text, int(text) if text.isdigit() else text)


@check("README install steps: every Secret (and key) the installs reference is created in step 2 or 5")
def check_readme_install() -> None:
    section, commands = readme_install_commands()
    created: dict[tuple[str, str, str], set[str]] = {}
    installs = []
    for cmd in commands:
        opts = {k: v for k, v in zip(cmd, cmd[1:], strict=False) if k in ("-n", "--context", "--kube-context", "-f")}
        if cmd[0] == "kubectl" and cmd[1:2] != ["get"] and "secret" in cmd and "create" in cmd:
            name = cmd[cmd.index("secret") + 2]
            keys = {a.split("=", 2)[1] for a in cmd if a.startswith("--from-literal=")}
            if "docker-registry" in cmd:
                keys.add(".dockerconfigjson")
            created.setdefault((opts.get("--context", ""), opts["-n"], name), set()).update(keys)
        if cmd[0] == "helm" and "install" in cmd:
            installs.append(cmd)
    if len(installs) != 2:
        raise AssertionError(f"expected the two helm installs, found {len(installs)}")
    problems = []
    for cmd in installs:
        release, chart_path = cmd[cmd.index("install") + 1: cmd.index("install") + 3]
        chart = Path(chart_path).name
        context = dict(zip(cmd, cmd[1:], strict=False)).get("--kube-context", "")
        namespace = dict(zip(cmd, cmd[1:], strict=False))["-n"]
        values: dict = {}
        for i, arg in enumerate(cmd):
            if arg == "-f":
                values = deep_merge(values, yaml.safe_load((ROOT / cmd[i + 1]).read_text()))
            if arg == "--set":
                setting = cmd[i + 1]
                for var, standin in README_VARIABLES.items():
                    setting = setting.replace(var, standin)
                key, value = setting.split("=", 1)
                values = deep_merge(values, nest(key, set_value(value)))
        c = helm.Chart.load(str(CHARTS / chart))
        c.validate_schema(values)
        objects = [doc for path, text in c.render(values, is_install=True, name=release, namespace=namespace).items()
                   if not path.endswith("NOTES.txt") for doc in yaml.safe_load_all(text) if doc]
        own = {o["metadata"]["name"] for o in objects if o["kind"] == "Secret"}
        needed: set[tuple[str, str]] = set()
        for o in objects:
            if o["kind"] in ("Deployment", "Job"):
                spec = o["spec"]["template"]["spec"]
                needed |= {(s["name"], ".dockerconfigjson") for s in spec.get("imagePullSecrets", [])}
                for container in spec["containers"]:
                    for var in container.get("env", []):
                        ref = var.get("valueFrom", {}).get("secretKeyRef")
                        if ref and not ref.get("optional"):
                            needed.add((ref["name"], ref["key"]))
            if o["kind"] == "Ingress":
                for tls in o["spec"].get("tls", []):
                    if f"`{tls['secretName']}`" not in section:
                        problems.append(f"the README does not mention the TLS Secret {tls['secretName']}")
        missing = sorted((n, k) for n, k in needed if n not in own
                         and k not in created.get((context, namespace, n), set()))
        if missing:
            problems.append(f"helm install {release}: Secrets/keys used but not created in the README's "
                            f"steps (context {context or 'default'}, namespace {namespace}): {missing}")
    if problems:
        raise AssertionError("; ".join(problems))


@check("values schemas refuse wrong types and unknown keys, and accept the examples")
def check_values_schema() -> None:
    bad = {
        "brokkr": [
            {"broker": {"replicas": "two"}},
            {"broker": {"replicaz": 2}},
            {"config": {"broker": {"max_body_bytes": "big"}}},
            {"config": {"brokr": {}}},
            {"config": {"database": {"url": "postgres://set-by-the-chart"}}},
            {"worker": {"databaseConnections": 4}},
            {"ingress": {"enabled": "yes"}},
            {"observability": {"dashboards": {"enabled": "yes"}}},
            {"observability": {"alert": {"enabled": True}}},
            {"observability": {"dashboards": {"sidecarLabel": ""}}},
            {"unknownTopLevel": True},
        ],
        "brokkr-agent": [
            {"rbac": {"mode": "everything"}},
            {"rbac": {"namespaces": "apps"}},
            {"config": {"agent": {"reconcile_interval": "soon"}}},
            {"config": {"agent": {"pak": "in-values"}}},
            {"healthPort": 70000},
            {"brokerUrl": "brokkr.example.com"},
            {"podMonitor": {"enabeld": True}},
            {"rbac": {"resources": [{"apiGroups": ["*"], "resources": ["*"]}]}},
            {"rbac": {"extraResources": [{"apiGroups": [""], "resources": ["pods/exec"]}]}},
            {"rbac": {"namespacedResources": [{"apiGroups": [""], "resources": ["*"]}]}},
            {"rbac": {"allResources": "yes"}},
            {"networkPolicy": {"enabled": True, "allowAnyDestination": True, "broker": {"cidrs": ["broker"]}}},
            {"networkPolicy": {"enabled": True, "allowAnyDestination": "yes"}},
        ],
    }
    for chart, cases in bad.items():
        c = helm.Chart.load(str(CHARTS / chart))
        for case in cases:
            try:
                c.validate_schema(deep_merge(REQUIRED[chart], case))
            except helm.HelmValuesError:
                continue
            raise AssertionError(f"{chart}: schema accepted {case}")
        for _, values in values_files(chart):
            c.validate_schema(values)
    # The agent's identity is required: the defaults alone are refused.
    try:
        helm.Chart.load(str(CHARTS / "brokkr-agent")).validate_schema({})
    except helm.HelmValuesError as e:
        if "brokerUrl" not in str(e):
            raise AssertionError(f"refusal does not name brokerUrl: {e}") from None
    else:
        raise AssertionError("brokkr-agent accepted values without brokerUrl, agent and pak")


@check("broker chart wiring: migrations hook, run_migrations off, checksum, secrets")
def check_broker_wiring() -> None:
    objects = render("brokkr", BROKKR_REQUIRED)
    by = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    job = by[("Job", "brokkr-migrate")]
    hooks = job["metadata"]["annotations"]["helm.sh/hook"]
    if hooks != "pre-install,pre-upgrade" or job["spec"]["template"]["spec"]["containers"][0]["args"] != ["migrate"]:
        raise AssertionError(f"migration job: {hooks}")
    toml = by[("ConfigMap", "brokkr-config")]["data"]["brokkr.toml"]
    if "run_migrations = false" not in toml:
        raise AssertionError("broker not started with database.run_migrations = false")
    checksums = {by[("Deployment", f"brokkr-{c}")]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
                 for c in ("broker", "worker")}
    changed = render("brokkr", deep_merge(BROKKR_REQUIRED, {"config": {"log": {"level": "debug"}}}))
    new = {o["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
           for o in changed if o["kind"] == "Deployment"}
    if len(checksums) != 1 or checksums == new:
        raise AssertionError("config checksum does not follow the configuration")
    key = by[("Secret", "brokkr-webhook-key")]
    if key["metadata"]["annotations"].get("helm.sh/resource-policy") != "keep":
        raise AssertionError("generated webhook key is not kept")
    for dep in ("broker", "worker"):
        pod = by[("Deployment", f"brokkr-{dep}")]["spec"]["template"]["spec"]
        sc = pod["containers"][0]["securityContext"]
        if not (pod["securityContext"]["runAsNonRoot"] and sc["readOnlyRootFilesystem"]
                and sc["capabilities"]["drop"] == ["ALL"] and not sc["allowPrivilegeEscalation"]
                and pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"):
            raise AssertionError(f"{dep}: securityContext not hardened")


def pod_specs(objects: list[dict]) -> list[tuple[dict, dict]]:
    """(workload, pod template) of every Deployment and Job."""
    return [(o, o["spec"]["template"]) for o in objects if o["kind"] in ("Deployment", "Job")]


def check_references(label: str, objects: list[dict], external_secrets: set[str]) -> None:
    """Every name a rendered object refers to is rendered too (or a Secret the user provides),
    and every selector selects a rendered pod template."""
    have = {(o["kind"], o["metadata"]["name"]) for o in objects}
    problems = []

    def need(kind: str, name: str, by: dict) -> None:
        if (kind, name) not in have and not (kind == "Secret" and name in external_secrets):
            problems.append(f"{by['kind']} {by['metadata']['name']} refers to {kind} {name}, not rendered")

    pods = pod_specs(objects)
    for workload, template in pods:
        spec = template["spec"]
        if spec.get("serviceAccountName"):
            need("ServiceAccount", spec["serviceAccountName"], workload)
        for volume in spec.get("volumes", []):
            if "configMap" in volume:
                need("ConfigMap", volume["configMap"]["name"], workload)
        for container in spec["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    need("Secret", ref["name"], workload)
    for o in objects:
        spec = o.get("spec", {})
        if "scaleTargetRef" in spec:
            need(spec["scaleTargetRef"]["kind"], spec["scaleTargetRef"]["name"], o)
        if "roleRef" in o:
            need(o["roleRef"]["kind"], o["roleRef"]["name"], o)
            for subject in o["subjects"]:
                need(subject["kind"], subject["name"], o)
        selector = (spec.get("selector", {}).get("matchLabels") if o["kind"] != "Service"
                    else spec.get("selector"))
        if o["kind"] == "NetworkPolicy":
            selector = spec["podSelector"]["matchLabels"]
        if selector and o["kind"] == "ServiceMonitor":
            if not any(selector.items() <= s["metadata"]["labels"].items()
                       for s in objects if s["kind"] == "Service"):
                problems.append(f"ServiceMonitor {o['metadata']['name']} selects no rendered Service: {selector}")
        elif selector:
            if not any(selector.items() <= t["metadata"]["labels"].items() for _, t in pods):
                problems.append(f"{o['kind']} {o['metadata']['name']} selects no rendered pod: {selector}")
    if problems:
        raise AssertionError(f"{label}: " + "; ".join(problems))


@check("nameOverride/fullnameOverride rename every object and keep every reference; worker and "
       "broker CPU HPAs; agent Deployment: 1 replica, Recreate")
def check_names_and_shapes() -> None:
    external = {"brokkr": {"brokkr-database"}, "brokkr-agent": {"brokkr-agent-pak"}}
    for chart in REQUIRED:
        for label, values in values_files(chart):
            objects = render(chart, values)
            ext = external[chart] | {values.get("database", {}).get("existingSecret", ""),
                                     values.get("webhookEncryption", {}).get("existingSecret", ""),
                                     values.get("admin", {}).get("existingSecret", ""),
                                     values.get("pak", {}).get("existingSecret", "")}
            check_references(f"{chart} {label}", objects, ext)
        for override, prefix, name_label in [({"nameOverride": "fleet"}, "brokkr-fleet", "fleet"),
                                             ({"fullnameOverride": "platform"}, "platform", chart)]:
            objects = render(chart, deep_merge(REQUIRED[chart], override))
            check_references(f"{chart} {override}", objects, external[chart])
            for o in objects:
                name = o["metadata"]["name"]
                if o["kind"] != "Secret" or name not in external[chart]:
                    if not name.startswith(prefix):
                        raise AssertionError(f"{chart} {override}: {o['kind']} {name} not named {prefix}*")
                if o["metadata"]["labels"]["app.kubernetes.io/name"] != name_label:
                    raise AssertionError(f"{chart} {override}: {o['kind']} {name} labelled "
                                         f"{o['metadata']['labels']['app.kubernetes.io/name']}")
    # CPU HPAs of the broker and the worker, in place of a fixed replica count.
    hpa = {"broker": {"autoscaling": {"enabled": True, "minReplicas": 2, "maxReplicas": 5}},
           "worker": {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 9,
                                      "targetCPUUtilizationPercentage": 60}}}
    objects = render("brokkr", deep_merge(BROKKR_REQUIRED, hpa))
    check_references("brokkr HPAs", objects, external["brokkr"])
    hpas = {o["spec"]["scaleTargetRef"]["name"]: o for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    for component, (low, high, cpu) in {"broker": (2, 5, 70), "worker": (3, 9, 60)}.items():
        h = hpas.get(f"brokkr-{component}")
        if h is None:
            raise AssertionError(f"no HPA for the {component}: {sorted(hpas)}")
        validate_object(h)
        metric = h["spec"]["metrics"]
        if ((h["spec"]["minReplicas"], h["spec"]["maxReplicas"]) != (low, high)
                or metric != [{"type": "Resource", "resource": {"name": "cpu", "target": {
                    "type": "Utilization", "averageUtilization": cpu}}}]):
            raise AssertionError(f"{component} HPA: {h['spec']}")
        dep = next(o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == f"brokkr-{component}")
        if "replicas" in dep["spec"]:
            raise AssertionError(f"{component}: a fixed replica count beside its HPA")
    try:
        render("brokkr", deep_merge(BROKKR_REQUIRED, {"worker": {"autoscaling": {"enabled": True},
                                                                 "keda": {"enabled": True}}}))
    except Exception as e:  # noqa: BLE001 - the chart's `fail`, whatever the SDK calls it
        if "exclude each other" not in str(e):
            raise AssertionError(f"worker HPA and KEDA together: {e}") from None
    else:
        raise AssertionError("worker HPA and KEDA ScaledObject rendered together")
    # One agent per cluster, never two at once.
    for label, values in values_files("brokkr-agent"):
        for o in render("brokkr-agent", values):
            if o["kind"] == "Deployment" and (o["spec"].get("replicas"), o["spec"].get("strategy")) != (
                    1, {"type": "Recreate"}):
                raise AssertionError(f"agent {label}: replicas {o['spec'].get('replicas')}, "
                                     f"strategy {o['spec'].get('strategy')}")


@check("observability: dashboards as Grafana sidecar ConfigMaps, alerts as a PrometheusRule, "
       "both from deploy/observability and off by default")
def check_observability() -> None:
    source = ROOT / "deploy" / "observability"
    defaults = render("brokkr", BROKKR_REQUIRED)
    if any(o["kind"] == "PrometheusRule" or "grafana_dashboard" in o["metadata"].get("labels", {})
           for o in defaults):
        raise AssertionError("dashboards or alerts rendered without being enabled")
    on = {"observability": {"dashboards": {"enabled": True, "sidecarLabelValue": "brokkr"},
                            "alerts": {"enabled": True, "labels": {"release": "prom"}}}}
    objects = render("brokkr", deep_merge(BROKKR_REQUIRED, on))
    boards = {name: text for o in objects if o["kind"] == "ConfigMap"
              and o["metadata"]["labels"].get("grafana_dashboard") == "brokkr"
              for name, text in o["data"].items()}
    expected = sorted(p.name for p in (source / "grafana").glob("*.json"))
    if sorted(boards) != expected or len(expected) != 4:
        raise AssertionError(f"dashboard ConfigMaps {sorted(boards)}, expected {expected}")
    for name, text in boards.items():
        if json.loads(text) != json.loads((source / "grafana" / name).read_text()):
            raise AssertionError(f"{name} in its ConfigMap differs from deploy/observability")
    rules = [o for o in objects if o["kind"] == "PrometheusRule"]
    if len(rules) != 1 or rules[0]["metadata"]["labels"].get("release") != "prom":
        raise AssertionError(f"expected one PrometheusRule with the extra label, got {rules}")
    alerts = yaml.safe_load((source / "prometheus" / "alerts.yml").read_text())
    if rules[0]["spec"]["groups"] != alerts["groups"]:
        raise AssertionError("the PrometheusRule's groups differ from deploy/observability/prometheus/alerts.yml")


def base_images(containerfile: str) -> list[tuple[str, str]]:
    """(FROM line, image) of every base image that is not an earlier stage, `ARG` defaults
    substituted (`${NAME}`, `$NAME`); an ARG without a default is an error (the image would
    be whatever the build command says)."""
    args: dict[str, str | None] = {}
    stages: set[str] = set()
    out = []
    for line in containerfile.replace("\\\n", " ").splitlines():
        line = line.strip()
        if m := re.fullmatch(r"ARG\s+(\w+)(?:=(.*))?", line, re.I):
            args[m.group(1)] = None if m.group(2) is None else m.group(2).strip().strip('"\'')
        elif m := re.fullmatch(r"FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", line, re.I):
            def arg(v: re.Match, line: str = line) -> str:
                name = v.group(1) or v.group(2)
                if args.get(name) is None:
                    raise AssertionError(f"{line}: ARG {name} has no default")
                return args[name]
            image = re.sub(r"\$\{(\w+)\}|\$(\w+)", arg, m.group(1))
            if image not in stages:
                out.append((line, image))
            if m.group(2):
                stages.add(m.group(2))
    return out


def check_pinned(image: str) -> str | None:
    """Why `image` is not pinned (an explicit tag other than latest, or a digest), else None."""
    if image == "scratch" or re.search(r"@sha256:[0-9a-f]{64}$", image):
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "no tag or digest"
    if name.split(":", 1)[1] == "latest":
        return "tag latest"
    return None


@check("Containerfile lint (hadolint); base images, ARG defaults resolved, pinned to a tag or digest (not latest)")
def check_containerfile(hadolint: str) -> None:
    path = ROOT / "deploy" / "Containerfile"
    out = subprocess.run([hadolint, "--failure-threshold", "info", str(path)],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise AssertionError(out.stdout + out.stderr)
    text = path.read_text()
    if "USER 65532" not in text or "--locked" not in text:
        raise AssertionError("Containerfile must run as a numeric non-root USER and build --locked")
    bases = base_images(text)
    if len(bases) != 2:
        raise AssertionError(f"expected the build and the runtime base images, found {bases}")
    unpinned = [(line, image, why) for line, image in bases if (why := check_pinned(image))]
    if unpinned:
        raise AssertionError(f"base images not pinned: {unpinned}")
    # The resolution itself refuses what it must.
    for bad, why in [("ARG B=docker.io/library/rust\nFROM ${B}", "no tag or digest"),
                     ("ARG B=rust:latest\nFROM $B AS build", "tag latest"),
                     ("FROM registry.local:5000/rust", "no tag or digest"),
                     ("ARG B\nFROM ${B}", "has no default")]:
        try:
            found = [check_pinned(image) for _, image in base_images(bad)]
        except AssertionError as e:
            found = [str(e)]
        if not any(f and why in f for f in found):
            raise AssertionError(f"{bad!r} not refused ({found})")
    for good in ["ARG B=rust:1.95-bookworm\nFROM ${B} AS build\nFROM build AS test",
                 "FROM gcr.io/distroless/cc-debian12@sha256:" + "0" * 64]:
        if any(check_pinned(image) for _, image in base_images(good)):
            raise AssertionError(f"{good!r} refused")


# --- kubesim: apply the agent chart, run an agent configured as the chart configures it -------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, probe, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = probe()
            if result:
                return result
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within {timeout:.0f} s (last: {last})")


def http(method: str, url: str, body=None, pak: str | None = None):
    req = urllib.request.Request(url, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if pak:
        req.add_header("Authorization", f"Bearer {pak}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            try:
                return r.status, json.loads(raw or b"null")
            except ValueError:
                return r.status, raw.decode(errors="replace")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@check("agent chart server-side applied to kubesim; an agent configured by it reconciles, "
       "namespaced (an object outside its namespaces refused) then cluster-wide")
def check_kubesim(bin_dir: Path, database_url: str) -> None:
    procs: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        logs = {}

        def start(name: str, args: list[str], env: dict) -> subprocess.Popen:
            logs[name] = open(tmp / f"{name}.log", "w+")
            p = subprocess.Popen(args, env=env, stdout=logs[name], stderr=subprocess.STDOUT)
            procs.append(p)
            return p

        def log(name: str) -> str:
            logs[name].flush()
            return (tmp / f"{name}.log").read_text()[-3000:]

        try:
            kubeconfig = tmp / "kubeconfig"
            start("kubesim", [str(bin_dir / "kubesim"), "--listen", "127.0.0.1:0",
                              "--kubeconfig-out", str(kubeconfig)], dict(os.environ))
            wait_for("kubesim kubeconfig", kubeconfig.exists, 30)
            kenv = dict(os.environ, KUBECONFIG=str(kubeconfig))

            def kubectl(*args: str, stdin: str | None = None) -> str:
                out = subprocess.run(["kubectl", *args], env=kenv, input=stdin,
                                     capture_output=True, text=True, timeout=60)
                if out.returncode != 0:
                    raise AssertionError(f"kubectl {' '.join(args)}: {out.stderr.strip()}")
                return out.stdout

            # The admin PAK made and hashed as the README's step 2 does it (admin.existingSecret).
            section, _ = readme_install_commands()
            recipe = re.search(r'^(ADMIN_PAK=.*)$', section, re.M).group(1)
            hash_cmd = re.search(r'pak-hash="\$\((.*)\)"$', section, re.M).group(1)
            made = subprocess.run(["bash", "-c", f'{recipe}\necho "$ADMIN_PAK"\n{hash_cmd}'],
                                  capture_output=True, text=True, timeout=30, check=True).stdout.split()
            admin, pak_hash = made[0], made[1]

            # The broker, on a database of its own.
            db = f"brokkr_chart_{os.getpid()}"
            subprocess.run(["psql", database_url, "-X", "-q", "-c", f'CREATE DATABASE "{db}"'],
                           check=True, capture_output=True, timeout=30)
            db_url = database_url.rsplit("/", 1)[0] + "/" + db
            broker_port = free_port()
            benv = {"PATH": os.environ["PATH"], "BROKKR__DATABASE__URL": db_url,
                    "BROKKR__BROKER__LISTEN_ADDR": f"127.0.0.1:{broker_port}",
                    "BROKKR__BROKER__PAK_HASH": pak_hash, "BROKKR__DATABASE__MAX_CONNECTIONS": "5"}
            start("broker", [str(bin_dir / "brokkr-broker"), "serve"], benv)
            base = f"http://127.0.0.1:{broker_port}"
            wait_for("broker /readyz", lambda: http("GET", base + "/readyz")[0] == 200, 60)
            status, body = http("GET", base + "/api/v1/agents", None, admin)
            if status != 200:
                raise AssertionError(f"the README's admin PAK is refused: {status} {body}")
            reg = subprocess.run([str(bin_dir / "brokkr-broker"), "create", "agent", "--name", "edge-01",
                                  "--cluster-name", "edge"], env=benv, capture_output=True, text=True,
                                 timeout=60, check=True)
            agent_pak = reg.stdout.strip().splitlines()[-1]
            # New agents start INACTIVE: the admin activates this one.
            agent_id = next(line.split("ID: ", 1)[1].strip() for line in reg.stdout.splitlines()
                            if line.startswith("ID: "))
            status, body = http("PUT", f"{base}/api/v1/agents/{agent_id}", {"status": "ACTIVE"}, admin)
            if status != 200:
                raise AssertionError(f"activating the agent: {status} {body}")

            # What the operator creates before `helm install` (see the README): namespaces, the PAK.
            prereqs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                       for n in ("brokkr", "apps", "other")]
            prereqs.append({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                            "metadata": {"name": "brokkr-agent-pak", "namespace": "brokkr"},
                            "data": {"pak": base64.b64encode(agent_pak.encode()).decode()}})
            kubectl("apply", "--server-side", "--validate=false", "-f", "-",
                    stdin="\n---\n".join(yaml.safe_dump(o) for o in prereqs))

            # A stack targeted at the agent (the cluster consents to the generator's stacks).
            status, gen = http("POST", base + "/api/v1/generators", {"name": "chart-check"}, admin)
            assert status == 200, gen
            status, stack = http("POST", base + "/api/v1/stacks", {"name": "chart-check"}, gen["pak"])
            assert status == 200, stack
            status, body = http("POST", f"{base}/api/v1/generators/{gen['generator']['id']}/register",
                                {"agent_id": agent_id}, admin)
            assert 200 <= status < 300, body
            status, body = http("POST", f"{base}/api/v1/agents/{agent_id}/targets", {"stack_id": stack["id"]}, admin)
            assert 200 <= status < 300, body

            def configmap(namespace: str, name: str) -> str:
                return (f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
                        f"  namespace: {namespace}\ndata:\n  hello: world\n")

            def deploy(*docs: str) -> str:
                status, body = http("POST", f"{base}/api/v1/stacks/{stack['id']}/deployment-objects",
                                    {"yaml_content": "---\n".join(docs), "is_deletion_marker": False},
                                    gen["pak"])
                assert status == 200, body
                return body["id"]

            def applied(namespace: str, name: str) -> bool:
                return "world" in kubectl("-n", namespace, "get", "configmap", name,
                                          "-o", "jsonpath={.data.hello}")

            health_port = free_port()
            values = deep_merge(AGENT_REQUIRED, {"brokerUrl": base, "healthPort": health_port,
                                                 "config": {"agent": {"reconcile_interval": 5}}})
            namespaced = deep_merge(values, {"rbac": {"mode": "namespaced", "namespaces": ["apps"]},
                                             "workOrders": {"builds": {"enabled": True}}})

            def install(vals: dict) -> list[dict]:
                """Server-side applies the chart as `helm install -n brokkr` would."""
                objects = render("brokkr-agent", vals)
                for o in objects:
                    if o["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
                        o["metadata"].setdefault("namespace", "brokkr")
                kubectl("apply", "--server-side", "--validate=false", "--field-manager", "helm", "-f", "-",
                        stdin="\n---\n".join(yaml.safe_dump(o) for o in objects))
                for o in objects:
                    ns = o["metadata"].get("namespace")
                    kubectl(*(["-n", ns] if ns else []), "get", o["kind"].lower(), o["metadata"]["name"])
                return objects

            def run_agent(name: str) -> subprocess.Popen:
                """The agent, with the environment and file of the applied Deployment and ConfigMap."""
                dep = json.loads(kubectl("-n", "brokkr", "get", "deployment", "brokkr-brokkr-agent", "-o", "json"))
                cm = json.loads(kubectl("-n", "brokkr", "get", "configmap", "brokkr-brokkr-agent-config",
                                        "-o", "json"))
                container = dep["spec"]["template"]["spec"]["containers"][0]
                config = tmp / f"{name}.toml"
                config.write_text(cm["data"]["agent.toml"])
                aenv = {"PATH": os.environ["PATH"], "KUBECONFIG": str(kubeconfig)}
                for var in container["env"]:
                    if "value" in var:
                        aenv[var["name"]] = var["value"]
                    else:
                        ref = var["valueFrom"]["secretKeyRef"]
                        secret = json.loads(kubectl("-n", "brokkr", "get", "secret", ref["name"], "-o", "json"))
                        aenv[var["name"]] = base64.b64decode(secret["data"][ref["key"]]).decode()
                aenv["BROKKR_CONFIG_FILE"] = str(config)
                proc = start(name, [str(bin_dir / "brokkr-agent"), *container["args"]], aenv)
                wait_for(f"{name} /readyz", lambda: urllib.request.urlopen(
                    f"http://127.0.0.1:{health_port}/readyz", timeout=5).status == 200, 60)
                return proc

            def stop(proc: subprocess.Popen) -> None:
                proc.terminate()
                proc.wait(timeout=20)

            # 1. Namespaced mode: Roles in `apps` only, the agent confined to `apps`.
            objects = install(namespaced)
            if {(o["kind"], o["metadata"].get("namespace")) for o in objects if "Role" in o["kind"]} != {
                    ("Role", "apps"), ("RoleBinding", "apps")}:
                raise AssertionError("namespaced mode: expected a Role and RoleBinding in apps only")
            agent = run_agent("agent-namespaced")
            deploy(configmap("apps", "from-brokkr"))
            wait_for("ConfigMap apps/from-brokkr applied by the namespaced agent",
                     lambda: applied("apps", "from-brokkr"), 60)
            outside = deploy(configmap("apps", "from-brokkr"), configmap("other", "outside"))

            def refusal():
                status, events = http("GET", f"{base}/api/v1/agents/{agent_id}/events", None, admin)
                return next((e for e in events if e["deployment_object_id"] == outside
                             and e["status"] == "FAILURE"
                             and "namespace other is not one of this agent's namespaces" in (e["message"] or "")),
                            None) if status == 200 else None
            wait_for("FAILURE event: namespace other refused by the namespaced agent", refusal, 60)
            if "outside" in kubectl("-n", "other", "get", "configmaps", "-o", "name"):
                raise AssertionError("the namespaced agent applied other/outside")
            stop(agent)

            # 2. Cluster mode (the default), as `helm upgrade` leaves it: the Roles gone, a
            # ClusterRole; the same stack's object in `other` is applied now.
            kubectl("-n", "apps", "delete", "rolebinding,role", "brokkr-brokkr-agent")
            install(values)
            run_agent("agent-cluster")
            wait_for("ConfigMap other/outside applied by the cluster-wide agent",
                     lambda: applied("other", "outside"), 60)
        except Exception as e:
            tails = "\n".join(f"--- {n} log:\n{log(n)}" for n in logs)
            raise AssertionError(f"{e}\n{tails}") from None
        finally:
            for p in reversed(procs):
                p.terminate()
            for p in procs:
                try:
                    p.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    p.kill()
            if "db" in locals():
                subprocess.run(["psql", database_url, "-X", "-q", "-c", f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'],
                               capture_output=True, timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", type=Path, default=ROOT / "target" / "debug")
    parser.add_argument("--hadolint", default="hadolint")
    parser.add_argument("--skip-kubesim", action="store_true")
    args = parser.parse_args()
    print(f"helm SDK {helm.helm_sdk_version()}, Kubernetes schemas {KUBE_VERSION}")
    check_lint()
    check_schemas()
    check_values_schema()
    check_readme_install()
    check_agent_network_policy()
    check_broker_wiring()
    check_names_and_shapes()
    check_observability()
    check_rbac()
    check_config(args.bin_dir)
    check_readme_config_keys(args.bin_dir)
    check_containerfile(args.hadolint)
    if not args.skip_kubesim:
        check_kubesim(args.bin_dir, os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    if failures:
        print(f"\n{len(failures)} chart check(s) failed", file=sys.stderr)
        return 1
    print("\nall chart checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

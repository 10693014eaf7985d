"""What the agent asks of the Kubernetes API, derived from its code, and the check that a rendered
ClusterRole/Role grants exactly that.

Every Kubernetes call of the agent goes through `kube_call("<operation>", ...)` (retries and
metrics) or is discovery/version. `CALLS` maps each (file, operation) to the (group, resource,
verb) triples it needs, with the number of call sites; `scan()` counts the call sites in
`agent/src` (outside `#[cfg(test)]`), so a new call, or one removed, fails the check until this
table and the chart's RBAC are brought up to date.
"""

from __future__ import annotations

import re
from pathlib import Path

ANY = "*"
#: Arbitrary user kinds: the agent applies whatever manifests its stacks and work orders hold.
USER = "user-kinds"

# (file, operation) -> (call sites, [(group, resource, verb, needed_only_with_builds)], why)
CALLS: dict[tuple[str, str], tuple[int, list[tuple[str, str, str, bool]], str]] = {
    ("apply.rs", "discovery"): (1, [], "discovery: non-resource URLs (system:discovery)"),
    ("apply.rs", "apply"): (1, [(USER, USER, "patch", False)], "server-side apply"),
    ("apply.rs", "get"): (
        2,
        [
            (USER, USER, "get", False),
            ("apiextensions.k8s.io", "customresourcedefinitions", "get", False),
        ],
        "adoption check of an existing object; CRD waited until Established",
    ),
    ("apply.rs", "list"): (1, [(USER, USER, "list", False)], "prune: owned objects of every kind"),
    ("apply.rs", "delete"): (2, [(USER, USER, "delete", False)], "prune and rollback"),
    ("apply.rs", "patch"): (1, [(USER, USER, "patch", False)], "release an adopted object"),
    ("deployment_health.rs", "list"): (2, [("", "pods", "list", False)], "pods of a deployment"),
    ("diagnostics.rs", "list"): (
        3,
        [("", "pods", "list", False), ("", "events", "list", False)],
        "pods (per namespace and across all) and their events",
    ),
    ("diagnostics.rs", "logs"): (1, [("", "pods/log", "get", False)], "container logs"),
    ("work_orders.rs", "discovery"): (1, [], "discovery: non-resource URLs (system:discovery)"),
    ("work_orders.rs", "apply"): (
        1,
        [(USER, USER, "patch", False), ("shipwright.io", "builds", "patch", True)],
        "custom work orders; the Shipwright Build of a build work order",
    ),
    ("work_orders.rs", "create"): (1, [("shipwright.io", "buildruns", "create", True)], "BuildRun"),
    ("work_orders.rs", "get"): (1, [("shipwright.io", "buildruns", "get", True)], "BuildRun status"),
}

#: Calls that bypass kube_call: GET /version (non-resource) at start-up and for readiness.
OTHER_CALLS = {("start.rs", "apiserver_version"): 1, ("health_server.rs", "apiserver_version"): 1}

#: Cluster-scoped needs a namespace-restricted agent cannot be granted by Roles.
CLUSTER_SCOPED = {
    ("apiextensions.k8s.io", "customresourcedefinitions", "get"),
}


#: Kubernetes APIs the agent builds across all namespaces (`Api::all`, `Api::all_with`), per
#: file, and why none is used by a namespace-restricted agent (`agent.namespaces`, the chart's
#: namespaced mode), whose Roles grant nothing outside its namespaces.
CLUSTER_WIDE_SITES: dict[str, tuple[int, str]] = {
    "apply.rs": (
        3,
        "prune list: for a cluster-wide agent, or a granted cluster-scoped resource "
        "(NamespaceScope::listings); api_for: cluster-scoped objects, refused by check_scope "
        "unless granted (agent.cluster_resources); CRD get: only after applying a CRD, "
        "which needs customresourcedefinitions granted",
    ),
    "diagnostics.rs": (1, "pods by stack label: only for a cluster-wide agent (listings)"),
    "work_orders.rs": (1, "cluster-scoped objects of custom orders: refused unless granted"),
}


def _code(path: Path) -> str:
    text = path.read_text().split("#[cfg(test)]", 1)[0]
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


def check_cluster_wide_sites(agent_src: Path) -> None:
    """Every all-namespaces API of the agent is one reviewed for the namespaced mode."""
    problems = []
    for path in sorted(agent_src.glob("*.rs")):
        found = len(re.findall(r"Api::all(?:_with)?\(", _code(path)))
        expected = CLUSTER_WIDE_SITES.get(path.name, (0, ""))[0]
        if found != expected:
            problems.append(f"{path.name}: {found} Api::all/all_with site(s), {expected} reviewed")
    if problems:
        raise AssertionError(
            "a namespaced agent must not list across namespaces; review the new site(s) "
            "(agent/src/scope.rs) and update CLUSTER_WIDE_SITES:\n  " + "\n  ".join(problems)
        )


def scan(agent_src: Path) -> dict[tuple[str, str], int]:
    """Counts `kube_call("op"` and `apiserver_version(` sites per file, tests excluded."""
    found: dict[tuple[str, str], int] = {}
    for path in sorted(agent_src.glob("*.rs")):
        text = _code(path)
        for op in re.findall(r'kube_call\(\s*"([a-z_]+)"', text):
            found[(path.name, op)] = found.get((path.name, op), 0) + 1
        n = len(re.findall(r"\.apiserver_version\(", text))
        if n:
            found[(path.name, "apiserver_version")] = n
    return found


def check_table_matches_code(agent_src: Path) -> None:
    expected = {k: v[0] for k, v in CALLS.items()} | OTHER_CALLS
    found = scan(agent_src)
    problems = []
    for key in sorted(set(found) | set(expected)):
        if found.get(key, 0) != expected.get(key, 0):
            problems.append(
                f"{key[0]}: {found.get(key, 0)} call(s) of {key[1]!r} in the code, "
                f"{expected.get(key, 0)} in deploy/charts/tests/agent_rbac.py"
            )
    if problems:
        raise AssertionError(
            "the agent's Kubernetes calls changed; update CALLS and the chart's RBAC:\n  "
            + "\n  ".join(problems)
        )


def required(builds: bool) -> set[tuple[str, str, str]]:
    """The (group, resource, verb) triples the agent needs."""
    out = set()
    for _, triples, _ in CALLS.values():
        for group, resource, verb, builds_only in triples:
            if builds_only and not builds:
                continue
            out.add((group, resource, verb))
    return out


#: Subresource grants the agent never uses that a chart setting still renders, acknowledged
#: here with the reason: {setting: (group, subresource pattern, why)}. Kubernetes RBAC cannot
#: subtract: a rule naming resource `*` matches every subresource of its groups as well.
#: `compare` fails on any other subresource the agent does not use (it uses pods/log only).
ACKNOWLEDGED_SUBRESOURCES: dict[str, tuple[str, str, str]] = {
    "rbac.allResources": (
        ANY,
        "*/*",
        "opt-in (off by default) for fleets whose stacks hold kinds unknown at install time: "
        "apiGroups/resources `*` also grant get on pods/exec, pods/attach, pods/portforward, "
        "pods/proxy, services/proxy and nodes/proxy and patch on pods/ephemeralcontainers and "
        "every status; documented in values.yaml and the README",
    ),
}


def _matches(pattern_list: list[str], value: str) -> bool:
    return ANY in pattern_list or value in pattern_list


def grants(rules: list[dict], group: str, resource: str, verb: str) -> bool:
    return any(
        _matches(r.get("apiGroups", []), group)
        and _matches(r.get("resources", []), resource)
        and _matches(r.get("verbs", []), verb)
        for r in rules
    )


def _subresources(resource: str) -> str | None:
    """The subresources a rule's resource entry matches, as Kubernetes RBAC matches them: `*`
    every one (`*/*`), `*/status` that one of every resource, `pods/log` itself; None for a
    top-level resource."""
    if resource == ANY:
        return "*/*"
    return resource if "/" in resource else None


def compare(
    rules: list[dict],
    builds: bool,
    user_kinds: list[tuple[str, str]] | None,
    acknowledged: tuple[str, ...] = (),
) -> None:
    """Checks `rules` grant every needed triple and nothing else.

    `user_kinds`: None when the agent may apply every kind (`rbac.allResources`), else the
    (group, resource) pairs it is granted (`rbac.resources` + `rbac.extraResources`, or
    `rbac.namespacedResources`). `acknowledged`: keys of ACKNOWLEDGED_SUBRESOURCES whose
    over-grants the rendered values opted into.
    """
    need = set()
    for group, resource, verb in required(builds):
        if group == USER:
            kinds = [(ANY, ANY)] if user_kinds is None else user_kinds
            need |= {(g, r, verb) for g, r in kinds}
        elif user_kinds is not None and (group, resource) not in user_kinds and (
            group, resource, verb) in CLUSTER_SCOPED:
            continue  # not granted, so never applied, so never waited for
        else:
            need.add((group, resource, verb))
    missing = sorted(t for t in need if not grants(rules, *t))
    if missing:
        raise AssertionError(f"RBAC lacks what the agent does: {missing}")
    extra, subresources = [], []
    tolerated = [ACKNOWLEDGED_SUBRESOURCES[k][:2] for k in acknowledged]
    for rule in rules:
        for group in rule.get("apiGroups", []):
            for resource in rule.get("resources", []):
                for verb in rule.get("verbs", []):
                    sub = _subresources(resource)
                    if sub is not None and (group, sub, verb) not in need and not any(
                        g in (ANY, group) and s in ("*/*", sub) for g, s in tolerated
                    ):
                        subresources.append((group, sub, verb))
                    if sub == resource:
                        continue  # a named subresource: judged above only
                    justified = any(
                        (g == group or g == ANY) and (r == resource or r == ANY) and v == verb
                        for g, r, v in need
                    )
                    if not justified:
                        extra.append((group, resource, verb))
    problems = []
    if extra:
        problems.append(f"RBAC grants what the agent never does: {sorted(extra)}")
    if subresources:
        problems.append(
            f"RBAC grants subresources the agent never uses: {sorted(set(subresources))} "
            "(`*` matches every subresource: pods/exec, nodes/proxy, ...); name the resources, "
            "or acknowledge the grant in ACKNOWLEDGED_SUBRESOURCES with the reason"
        )
    if problems:
        raise AssertionError("; ".join(problems))

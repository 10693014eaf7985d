"""Fuzzing of every operation with schemathesis against a real broker and worker.

Starts the stack (brokkr_stack.py), with every outgoing HTTP request of the broker and the
worker (webhook deliveries, test deliveries, `validate: true`) sent to a local sink, named as
their forward proxy (`webhooks.proxy`), so that URLs the fuzzer makes up never reach another
host. Seeds it with one of
each resource (see seed()), whose ids, labels and keys schemathesis uses for half of the path
parameters and id fields it draws, so requests reach real resources and not only 404s. Then
runs schemathesis over api/openapi.json three times: with the agent's, the generator's and the
admin's PAK. Checks: not_a_server_error (5xx is always a bug), status_code_conformance,
content_type_conformance, response_schema_conformance. Afterwards the broker must still be
running and answer /healthz.

    python3 fuzz.py --bin-dir target/debug --max-examples 5

Exclusions, each with its reason, are in EXCLUDED below; there are none today.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from brokkr_stack import BrokkrStack, Receiver, call

HERE = Path(__file__).resolve().parent
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,"
          "response_schema_conformance")
# Operations or checks left out, each with the reason (schemathesis --exclude-* arguments).
EXCLUDED: list[tuple[list[str], str]] = []


def seed(stack: BrokkrStack) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Resources for the fuzzer to find: a generator, an active agent with a label, targeted at
    the generator's labelled and annotated stack, which has a deployment object (with a
    diagnostic request) and one rendered from a template; a webhook with a delivery; a work
    order. Returns the PAK of each role, and the values of path parameters and id fields."""
    api, admin = stack.base + "/api/v1", stack.admin

    def ok(method, path, body=None, pak=admin):
        status, answer = call(method, api + path, body, pak)
        assert 200 <= status < 300, (method, path, status, answer)
        return answer

    gen = ok("POST", "/generators", {"name": "fuzz-ci"})
    gen_pak = gen["pak"]
    made = ok("POST", "/agents", {"name": "fuzz-edge", "cluster_name": "fuzz",
                                  "generator_ids": [gen["generator"]["id"]]})
    agent_id = made["agent"]["id"]
    ok("PUT", f"/agents/{agent_id}", {"status": "ACTIVE"})
    ok("POST", f"/agents/{agent_id}/labels", "edge")
    stack_id = ok("POST", "/stacks", {"name": "fuzz-web"}, gen_pak)["id"]
    ok("POST", f"/stacks/{stack_id}/labels", "edge", gen_pak)
    ok("POST", f"/stacks/{stack_id}/annotations", {"key": "team", "value": "fuzz"}, gen_pak)
    config_map = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ name }}\n"
    object_id = ok("POST", f"/stacks/{stack_id}/deployment-objects", {
        "yaml_content": config_map.replace("{{ name }}", "fuzz")}, gen_pak)["id"]
    ok("POST", f"/agents/{agent_id}/targets", {"stack_id": stack_id})
    template_id = ok("POST", "/templates", {
        "name": "fuzz-config", "template_content": config_map,
        "parameters_schema": '{"type": "object", "properties": {"name": {"type": "string"}}}'},
        gen_pak)["id"]
    ok("POST", f"/templates/{template_id}/labels", "edge", gen_pak)
    ok("POST", f"/stacks/{stack_id}/deployment-objects/from-template",
       {"template_id": template_id, "parameters": {"name": "fuzz-rendered"}}, gen_pak)
    rollout_id = ok("POST", f"/templates/{template_id}/rollout", None, gen_pak)["id"]
    diagnostic_id = ok("POST", f"/deployment-objects/{object_id}/diagnostics",
                       {"agent_id": agent_id})["id"]
    hook_id = ok("POST", "/webhooks", {"name": "fuzz-hook", "url": "http://fuzz-sink.invalid/hook",
                                       "event_types": ["*"]})["id"]
    delivery_id = ok("POST", f"/webhooks/{hook_id}/ping")["id"]
    order_id = ok("POST", "/work-orders", {"work_type": "custom", "yaml_content": config_map,
                                           "targeting": {"agent_ids": [agent_id]}})["id"]
    ids = [gen["generator"]["id"], agent_id, stack_id, object_id, template_id, rollout_id,
           diagnostic_id, hook_id, delivery_id, order_id]
    paks = {"agent": made["initial_pak"], "generator": gen_pak, "admin": admin}
    return paks, {"ids": ids, "labels": ["edge"], "keys": ["team"]}


def config(values: dict[str, list[str]], path: Path) -> Path:
    """A schemathesis.toml that draws path parameters and id fields from the seeded values
    half of the time, so that requests reach real resources and not only 404s."""
    lines = []
    for name, entries in values.items():
        lines += [f"[dictionaries.{name}]", f"values = {json.dumps(entries)}", ""]
    lines.append("[parameters]")
    for key, name in [("path.id", "ids"), ("path.stack_id", "ids"), ("path.rollout_id", "ids"),
                      ("path.label", "labels"), ("path.key", "keys"),
                      ("body.agent_id", "ids"), ("body.stack_id", "ids"),
                      ("body.template_id", "ids"), ("body.generator_id", "ids"),
                      ("body.deployment_object_id", "ids")]:
        lines.append(f'"{key}" = {{ dictionary = "{name}", probability = 0.5 }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True, type=Path)
    parser.add_argument("--max-examples", type=int, default=5,
                        help="test cases per operation and phase, for each role")
    parser.add_argument("--seed", type=int, default=1, help="schemathesis's random seed")
    parser.add_argument("--report-dir", type=Path, help="where schemathesis writes its reports")
    args = parser.parse_args()
    failed = []
    sink = Receiver.start()
    proxy = {"BROKKR__WEBHOOKS__PROXY": sink.base}
    with BrokkrStack(args.bin_dir, "fuzz", env=proxy) as stack:
        paks, values = seed(stack)
        settings = config(values, Path(tempfile.mkdtemp()) / "schemathesis.toml")
        # The agent first and the admin last: the admin may delete the agent and the generator.
        for role, pak in paks.items():
            started = time.monotonic()
            command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(settings),
                       "run", str(HERE.parent / "openapi.json"),
                       "--url", stack.base + "/api/v1", "-H", f"Authorization: Bearer {pak}",
                       "--checks", CHECKS, "--max-examples", str(args.max_examples),
                       "--phases", "examples,coverage,fuzzing", "--seed", str(args.seed),
                       # One worker: on Python 3.11.7, hypothesis's ast.parse from two threads
                       # at once fails with "AST constructor recursion depth mismatch" (a
                       # CPython race fixed in 3.11.8), a crash of the tool, not a finding.
                       "--workers", "1", "--request-timeout", "70", "--no-shrink",
                       "--generation-database", "none", "--no-color", "--warnings", "off"]
            for exclusion, _reason in EXCLUDED:
                command += exclusion
            if args.report_dir:
                command += ["--report", "junit", "--report-junit-path",
                            str(args.report_dir / f"fuzz-{role}.xml")]
            print(f"--- schemathesis as the {role} ---", flush=True)
            result = subprocess.run(command, timeout=240)
            print(f"--- {role}: exit {result.returncode} after {time.monotonic() - started:.0f} s",
                  flush=True)
            if result.returncode != 0:
                failed.append(role)
            assert stack.broker_running(), f"the broker exited while fuzzed as the {role}"
            with urllib.request.urlopen(stack.base + "/healthz", timeout=5) as r:
                assert r.status == 200, f"/healthz answers {r.status} after the {role}'s run"
    sink.shutdown()
    if failed:
        print(f"schemathesis found problems as: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("schemathesis: every operation, as admin, generator and agent: no findings; "
          "the broker stayed up")
    return 0


if __name__ == "__main__":
    sys.exit(main())

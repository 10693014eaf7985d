"""Webhook signatures checked with the verifiers receivers really use.

Starts `brokkr-broker serve` and `brokkr-worker` on a database of their own, a local receiver,
and two subscriptions: one whose secret the broker generates (`generate_secret: true`), one with
a secret of the user's. An event (a stack is created) is delivered to both; then
- the Standard Webhooks headers of the generated-secret delivery verify with the
  `standardwebhooks` library (PyPI), and a tampered body does not;
- `X-Brokkr-Signature-256` of both deliveries verifies with GitHub's `@octokit/webhooks-methods`
  (npm), run by check_webhooks_octokit.mjs, and a tampered body does not.

    python3 check_webhooks.py --bin-dir target/debug --node-modules target/contract-tools/npm/node_modules
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from brokkr_stack import BrokkrStack, Receiver, call, wait_for
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HERE = Path(__file__).resolve().parent
USER_SECRET = "a-secret-of-the-users-own-choosing"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True, type=Path)
    parser.add_argument("--node-modules", required=True, type=Path)
    args = parser.parse_args()
    receiver = Receiver.start()
    hook_base = receiver.base
    try:
        with BrokkrStack(args.bin_dir, "webhooks", webhook_networks="127.0.0.0/8") as stack:
            admin, api = stack.admin, stack.base + "/api/v1"
            status, generated = call("POST", api + "/webhooks", {
                "name": "generated", "url": hook_base + "/generated",
                "event_types": ["stack.created"], "generate_secret": True}, admin)
            assert status == 201, (status, generated)
            secret = generated.get("secret", "")
            assert secret.startswith("whsec_") and generated["has_secret"], generated
            status, got = call("GET", f"{api}/webhooks/{generated['id']}", None, admin)
            assert status == 200 and "secret" not in got, got
            status, own = call("POST", api + "/webhooks", {
                "name": "own", "url": hook_base + "/own", "event_types": ["stack.created"],
                "secret": USER_SECRET}, admin)
            assert status == 201 and "secret" not in own, (status, own)
            status, body = call("POST", api + "/stacks", {"name": "web"}, admin)
            assert status == 200, (status, body)
            wait_for("both deliveries", lambda: len(receiver.deliveries) >= 2, 60)
    finally:
        receiver.shutdown()

    by_path = {d["path"]: d for d in receiver.deliveries}
    delivery = by_path["/generated"]
    headers = {k.lower(): v for k, v in delivery["headers"].items()}
    # Standard Webhooks, with the library receivers use.
    Webhook(secret).verify(delivery["body"], headers)
    try:
        Webhook(secret).verify(delivery["body"] + " ", headers)
        raise AssertionError("standardwebhooks accepted a tampered body")
    except WebhookVerificationError:
        pass
    print("standardwebhooks: the generated secret's delivery verifies")

    # GitHub style, with @octokit/webhooks-methods.
    cases = [{"secret": secret, **by_path["/generated"]}, {"secret": USER_SECRET, **by_path["/own"]}]
    cases_file = Path(tempfile.mkstemp(suffix=".json")[1])
    cases_file.write_text(json.dumps(cases))
    # ES modules resolve packages next to the script: run a copy beside node_modules.
    script = args.node_modules.parent / "check_webhooks_octokit.mjs"
    script.write_text((HERE / "check_webhooks_octokit.mjs").read_text())
    try:
        subprocess.run(["node", str(script), str(cases_file)], check=True, timeout=60)
    finally:
        cases_file.unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())

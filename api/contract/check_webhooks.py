"""Webhook signatures checked with the verifiers receivers really use.

Starts `brokkr-broker serve` and `brokkr-worker` on a database of their own, a local receiver,
and three subscriptions: one whose secret the broker generates (`generate_secret: true`), one
with a `whsec_` secret the user made, one with a plain secret of the user's. An event (a stack
is created) is delivered to all three; then
- the Standard Webhooks headers of both `whsec_` deliveries verify with the `standardwebhooks`
  library (PyPI), and a tampered body does not;
- `X-Brokkr-Signature-256` of every delivery verifies with GitHub's `@octokit/webhooks-methods`
  (npm), run by check_webhooks_octokit.mjs, and a tampered body does not.

    python3 check_webhooks.py --bin-dir target/debug --node-modules target/contract-tools/npm/node_modules
"""

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from brokkr_stack import BrokkrStack, Receiver, call, wait_for
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

HERE = Path(__file__).resolve().parent
USER_SECRET = "a-secret-of-the-users-own-choosing"
# A Standard Webhooks secret the user made, as its documentation says: whsec_ + base64 of 24 bytes.
USER_STANDARD_SECRET = "whsec_" + base64.b64encode(os.urandom(24)).decode()


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
            status, own_std = call("POST", api + "/webhooks", {
                "name": "own-standard", "url": hook_base + "/own-standard",
                "event_types": ["stack.created"], "secret": USER_STANDARD_SECRET}, admin)
            assert status == 201 and "secret" not in own_std, (status, own_std)
            status, body = call("POST", api + "/stacks", {"name": "web"}, admin)
            assert status == 200, (status, body)
            wait_for("three deliveries", lambda: len(receiver.deliveries) >= 3, 60)
    finally:
        receiver.shutdown()

    by_path = {d["path"]: d for d in receiver.deliveries}
    # Standard Webhooks, with the library receivers use.
    for path, key in [("/generated", secret), ("/own-standard", USER_STANDARD_SECRET)]:
        delivery = by_path[path]
        headers = {k.lower(): v for k, v in delivery["headers"].items()}
        Webhook(key).verify(delivery["body"], headers)
        try:
            Webhook(key).verify(delivery["body"] + " ", headers)
            raise AssertionError(f"standardwebhooks accepted a tampered body ({path})")
        except WebhookVerificationError:
            pass
    print("standardwebhooks: the deliveries of the generated and the user's whsec_ secret verify")

    # GitHub style, with @octokit/webhooks-methods.
    cases = [{"secret": secret, **by_path["/generated"]}, {"secret": USER_SECRET, **by_path["/own"]},
             {"secret": USER_STANDARD_SECRET, **by_path["/own-standard"]}]
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

"""Contract tests of the SDKs in clients/ against a real broker, worker and PostgreSQL.

Starts the stack (brokkr_stack.py) and a webhook receiver, then runs the scenario of each SDK
against it: sdk_scenario.py with the Python package (installed from clients/python into a
directory on PYTHONPATH by the calling script), and sdk_scenario.ts, compiled with
`tsc --strict` in --ts-dir (where the calling script installed clients/typescript) and run
with node. Each scenario calls every operation of the document and checks every answer.

    python3 sdk_contract.py --bin-dir target/debug --ts-dir DIR
"""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from brokkr_stack import BrokkrStack, Receiver
from sdk_scenario import Scenario

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", required=True, type=Path)
    parser.add_argument("--ts-dir", type=Path,
                        help="a package directory (\"type\": \"module\") whose node_modules"
                             " holds brokkr-client"
                             " (without it only the Python scenario runs)")
    parser.add_argument("--tsc", type=Path, help="TypeScript's compiler (with --ts-dir)")
    args = parser.parse_args()
    document = json.loads((HERE.parent / "openapi.json").read_text())
    receiver = Receiver.start()
    try:
        with BrokkrStack(args.bin_dir, "sdk", webhook_networks="127.0.0.0/8") as stack:
            Scenario(stack.base, stack.admin, receiver, document).run()
            if args.ts_dir is not None:
                run_typescript(args.ts_dir, args.tsc, stack, receiver)
            assert stack.broker_running(), "the broker exited during the scenarios"
    finally:
        receiver.shutdown()
    return 0


def run_typescript(ts_dir: Path, tsc: Path, stack: BrokkrStack, receiver) -> None:
    script = ts_dir / "sdk_scenario.ts"
    script.write_text((HERE / "sdk_scenario.ts").read_text())
    subprocess.run([str(tsc), "--strict", "--target", "es2022", "--module", "nodenext",
                    "--moduleResolution", "nodenext", "--lib", "es2022,dom",
                    "--outDir", str(ts_dir / "out"), str(script)], check=True, timeout=120)
    env = dict(os.environ, BROKKR_URL=stack.base, BROKKR_ADMIN_PAK=stack.admin,
               RECEIVER_URL=receiver.base)
    subprocess.run(["node", str(ts_dir / "out" / "sdk_scenario.js")], env=env, check=True,
                   timeout=180)


if __name__ == "__main__":
    sys.exit(main())

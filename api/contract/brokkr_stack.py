"""A real broker and worker for the contract checks, on a PostgreSQL database of their own.

    with BrokkrStack(bin_dir, "name", webhook_networks="127.0.0.0/8", env={...}) as stack:
        stack.base    # http://127.0.0.1:PORT
        stack.admin   # the admin PAK the broker printed on its first start

Starts `brokkr-broker serve` (on a free loopback port) and `brokkr-worker` from bin_dir against a
new database on $DATABASE_URL's server, waits for /readyz and the admin PAK, and on exit stops
both processes (printing the tails of their logs when the block raised) and drops the database.
Used by check_webhooks.py, sdk_contract.py and fuzz.py.
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def call(method, url, body=None, pak=None):
    """One JSON request: (status, parsed body), or (status, text) for an error answer."""
    req = urllib.request.Request(url, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if pak:
        req.add_header("Authorization", f"Bearer {pak}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


class Receiver(http.server.BaseHTTPRequestHandler):
    """A webhook receiver on a free loopback port: records each POST and answers 204.

        receiver = Receiver.start()   # receiver.base, receiver.deliveries; receiver.shutdown()
    """

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.deliveries.append({"path": self.path, "headers": dict(self.headers.items()),
                                       "body": body.decode()})
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

    @staticmethod
    def start():
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        server.deliveries = []
        server.base = f"http://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server


class BrokkrStack:
    def __init__(self, bin_dir: Path, name: str, webhook_networks: str | None = None,
                 env: dict[str, str] | None = None):
        self.bin_dir = Path(bin_dir)
        self.database_url = os.environ.get("DATABASE_URL",
                                           "postgres://postgres@127.0.0.1:5432/postgres")
        self.db = f"brokkr_{name}_{os.getpid()}"
        self.webhook_networks = webhook_networks
        self.extra_env = env or {}
        self.procs = []
        self.logs = {}
        self.base = ""
        self.admin = ""

    def _psql(self, sql, check):
        subprocess.run(["psql", self.database_url, "-X", "-q", "-c", sql],
                       check=check, capture_output=True, timeout=30)

    def __enter__(self):
        # A `timeout` around the script sends SIGTERM: unwind, so the processes are stopped and
        # the database dropped (subprocess.run kills its child on the way out, too).
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        self._tmp = tempfile.TemporaryDirectory()
        tmp = Path(self._tmp.name)
        self._psql(f'CREATE DATABASE "{self.db}"', check=True)
        try:
            port = free_port()
            env = dict(os.environ,
                       BROKKR__DATABASE__URL=self.database_url.rsplit("/", 1)[0] + "/" + self.db,
                       BROKKR__DATABASE__MAX_CONNECTIONS="5",
                       BROKKR__BROKER__LISTEN_ADDR=f"127.0.0.1:{port}",
                       BROKKR__WORKER__LISTEN_ADDR=f"127.0.0.1:{free_port()}",
                       NO_COLOR="1",
                       BROKKR__BROKER__WEBHOOK_ENCRYPTION_KEY="ab" * 32)
            if self.webhook_networks:
                env["BROKKR__WEBHOOKS__ALLOWED_NETWORKS"] = self.webhook_networks
            env.update(self.extra_env)
            self.base = f"http://127.0.0.1:{port}"
            for name, cmd in [("broker", ["brokkr-broker", "serve"]),
                              ("worker", ["brokkr-worker"])]:
                self.logs[name] = tmp / f"{name}.log"
                self.procs.append(subprocess.Popen([str(self.bin_dir / cmd[0]), *cmd[1:]], env=env,
                                                   stdout=self.logs[name].open("w"),
                                                   stderr=subprocess.STDOUT))
                if name == "broker":
                    wait_for("broker /readyz", lambda: urllib.request.urlopen(
                        self.base + "/readyz", timeout=2).status == 200, 60)
            self.admin = wait_for("admin PAK in the broker log", self._admin_pak, 30)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _admin_pak(self) -> str | None:
        """The admin PAK the broker printed on its first start, once it has."""
        for line in self.logs["broker"].read_text().splitlines():
            if "Admin PAK: " in line:
                return line.split("Admin PAK: ", 1)[1].strip()
        return None

    def broker_running(self) -> bool:
        return self.procs[0].poll() is None

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            for name, path in self.logs.items():
                print(f"--- {name} log ---\n{path.read_text()[-3000:]}", file=sys.stderr)
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        self._psql(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)', check=False)
        self._tmp.cleanup()
        return False

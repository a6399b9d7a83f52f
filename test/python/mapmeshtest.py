"""Run a real mapmesh for the Python tests.

The binary is $MAPMESH_BIN when set, otherwise bin/mapmesh built from the
repository with `go build -o bin/mapmesh ./cmd/mapmesh` (once per process).
start_module_server() starts it on a free 127.0.0.1 port with a temporary
data directory and --enable-reset, isolates the AWS settings of the
process (fake credentials, empty config files), and stops both when the
test module ends.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock

REPO_ROOT = Path(__file__).resolve().parents[2]

# The fake identity every test uses. The access key is not 12 digits, so
# mapmesh acts for its default account.
ACCESS_KEY = "AKIDMAPMESHTEST"
SECRET_KEY = "mapmesh-test-secret"
REGION = "us-east-1"
ACCOUNT = "123456789012"

_built = None


def binary():
    """Return the path of the mapmesh binary, building it if needed."""
    global _built
    env_bin = os.environ.get("MAPMESH_BIN")
    if env_bin:
        path = Path(env_bin)
        if not path.is_file():
            raise RuntimeError(f"MAPMESH_BIN={env_bin} is not a file")
        return path
    if _built is None:
        go = shutil.which("go")
        if go is None:
            raise RuntimeError("go is not on PATH; set MAPMESH_BIN to a built mapmesh binary")
        out = REPO_ROOT / "bin" / "mapmesh"
        res = subprocess.run(
            [go, "build", "-o", str(out), "./cmd/mapmesh"],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
        )
        if res.returncode != 0:
            raise RuntimeError(f"go build -o bin/mapmesh ./cmd/mapmesh failed:\n{res.stdout}{res.stderr}")
        _built = out
    return _built


_LISTENING = re.compile(r'msg="mapmesh listening".*\bapi_addr=(\S+)')


class Server:
    """A mapmesh process on 127.0.0.1 with its own data directory."""

    def __init__(self, *extra_args):
        self.extra_args = list(extra_args)
        self.proc = None
        self.tmp = None
        self.url = None
        self.port = None

    def start(self, timeout=30):
        self.tmp = tempfile.TemporaryDirectory(prefix="mapmesh-pytest-")
        tmp = Path(self.tmp.name)
        self.log_path = tmp / "mapmesh.log"
        # Empty AWS config and credentials files, for the clients.
        self.empty_file = tmp / "empty"
        self.empty_file.write_text("")
        # DNS and xDS are off: their default ports would collide between
        # servers running at once.
        args = [str(binary()), "--api-addr", "127.0.0.1:0", "--dns-addr", "", "--xds-addr", "",
                "--data-dir", str(tmp / "data"), "--enable-reset", *self.extra_args]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAPMESH_")}
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        # Port 0 picks a free port without a race; the log says which.
        while self.url is None:
            m = _LISTENING.search(self.log())
            if m:
                self.url = "http://" + m.group(1)
                self.port = int(m.group(1).rsplit(":", 1)[1])
                break
            self._check_alive(deadline)
            time.sleep(0.02)
        while True:
            try:
                with urllib.request.urlopen(self.url + "/_mapmesh/health", timeout=2) as r:
                    if r.status == 200 and r.read().strip() == b"ok":
                        return self
            except (urllib.error.URLError, ConnectionError):
                pass
            self._check_alive(deadline)
            time.sleep(0.05)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _check_alive(self, deadline):
        if self.proc.poll() is not None:
            raise RuntimeError(f"mapmesh exited with status {self.proc.returncode}:\n{self.log()}")
        if time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"mapmesh did not become healthy in time:\n{self.log()}")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None

    def post(self, path):
        """POST an empty body to path; return (status, parsed JSON body or text)."""
        req = urllib.request.Request(self.url + path, data=b"", method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                body = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            body, status = e.read(), e.code
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body.decode(errors="replace")

    def reset(self, path="/_mapmesh/reset"):
        status, body = self.post(path)
        if status != 200:
            raise AssertionError(f"POST {path} = {status} {body!r}; want 200")

    def client(self, endpoint_url=None, inject_host_prefix=False, **config):
        """Return a boto3 servicediscovery client for this server.

        Host prefix injection is off unless asked for: DiscoverInstances
        would otherwise go to data-127.0.0.1, which does not resolve.
        """
        import boto3
        from botocore.config import Config

        return boto3.session.Session(
            aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, region_name=REGION,
        ).client(
            "servicediscovery",
            endpoint_url=endpoint_url or self.url,
            config=Config(inject_host_prefix=inject_host_prefix,
                          retries={"max_attempts": 1, "mode": "standard"}, **config),
        )

    def aws_env(self):
        """The environment for `aws` subprocesses: no AWS settings of the
        caller, fake credentials, empty config files, no data- prefix."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY,
            AWS_DEFAULT_REGION=REGION,
            AWS_CONFIG_FILE=str(self.empty_file),
            AWS_SHARED_CREDENTIALS_FILE=str(self.empty_file),
            AWS_DISABLE_HOST_PREFIX_INJECTION="true",
            AWS_EC2_METADATA_DISABLED="true",
            AWS_PAGER="",
        )
        return env


def start_module_server(*extra_args):
    """Start a Server for the calling test module (call from setUpModule).

    It also points this process's AWS settings at empty files and fake
    credentials, so boto3 never reads the user's configuration. Both are
    undone when the module's tests end.
    """
    srv = Server(*extra_args).start()
    unittest.addModuleCleanup(srv.stop)
    patch = mock.patch.dict(os.environ)
    patch.start()
    unittest.addModuleCleanup(patch.stop)
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    os.environ.update(srv.aws_env())
    return srv

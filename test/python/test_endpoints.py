"""How boto3 and the AWS CLI reach DiscoverInstances and
DiscoverInstancesRevision, which they send to data-<endpoint host> (the
model's host prefix): the settings that turn the prefix off, an HTTP proxy,
and, inside test/netns/run (make test-endpoints), the endpoint forms that
need no client setting at all because data-<host> resolves. README's table
("The data- host prefix") lists what these tests show.

Run from the repository root: python3 -m unittest discover -s test/python -v
"""

import json
import os
import shutil
import subprocess
import tempfile
import unittest
import unittest.mock

import boto3
import botocore
from botocore.config import Config

import mapmeshtest

SERVER = None
AWS = shutil.which("aws")
NETNS = os.environ.get("MAPMESH_NETNS") == "1"
NETNS_PORT = os.environ.get("MAPMESH_NETNS_PORT", "9711")
MYHOSTNAME = os.environ.get("MAPMESH_NETNS_MYHOSTNAME") == "1"

_counter = 0


def setUpModule():
    global SERVER
    SERVER = mapmeshtest.start_module_server()


def unique(prefix):
    global _counter
    _counter += 1
    return f"{prefix}-{os.getpid()}-{_counter}"


def env_without_prefix_setting(**extra):
    """The environment of the test process (fake credentials, empty config
    files) without AWS_DISABLE_HOST_PREFIX_INJECTION, plus extra."""
    env = dict(os.environ)
    env.pop("AWS_DISABLE_HOST_PREFIX_INJECTION", None)
    env.update(extra)
    return env


def session():
    return boto3.session.Session(aws_access_key_id=mapmeshtest.ACCESS_KEY,
                                 aws_secret_access_key=mapmeshtest.SECRET_KEY, region_name=mapmeshtest.REGION)


def clients(endpoint, **config):
    """boto3 servicediscovery and appmesh clients for endpoint, with only
    the given Config settings, and a list that gets "Operation host" for
    every request sent (after the host prefix)."""
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, **config)
    s = session()
    sd = s.client("servicediscovery", endpoint_url=endpoint, config=cfg)
    am = s.client("appmesh", endpoint_url=endpoint, config=cfg)
    sent = []
    for c in (sd, am):
        c.meta.events.register("before-send", lambda request, event_name, **_: sent.append(
            f"{event_name.rsplit('.', 1)[-1]} {request.url}"))
    return sd, am, sent


def cloud_map(sd):
    """Create a namespace, a service and an instance; return what
    DiscoverInstances found and the InstancesRevision."""
    ns = unique("py")
    op = sd.create_http_namespace(Name=ns)
    ns_id = sd.get_operation(OperationId=op["OperationId"])["Operation"]["Targets"]["NAMESPACE"]
    svc = sd.create_service(Name="web", NamespaceId=ns_id)["Service"]["Id"]
    sd.register_instance(ServiceId=svc, InstanceId="web-1",
                         Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "8080"})
    found = sd.discover_instances(NamespaceName=ns, ServiceName="web")["Instances"]
    rev = sd.discover_instances_revision(NamespaceName=ns, ServiceName="web")["InstancesRevision"]
    return [i["InstanceId"] for i in found], rev


def app_mesh(am):
    """Create a mesh and a node, update the node; return both versions."""
    mesh = unique("py")
    am.create_mesh(meshName=mesh)
    spec = lambda port: {"listeners": [{"portMapping": {"port": port, "protocol": "http"}}],
                         "serviceDiscovery": {"dns": {"hostname": "web.py.local"}}}
    v1 = am.create_virtual_node(meshName=mesh, virtualNodeName="web", spec=spec(8080))["virtualNode"]["metadata"]["version"]
    v2 = am.update_virtual_node(meshName=mesh, virtualNodeName="web", spec=spec(9090))["virtualNode"]["metadata"]["version"]
    return [v1, v2]


class CLI:
    """The AWS CLI against endpoint, in env."""

    def __init__(self, endpoint, env):
        self.endpoint, self.env = endpoint, dict(env, AWS_MAX_ATTEMPTS="1", AWS_RETRY_MODE="standard")

    def run(self, service, *args):
        return subprocess.run([AWS, service, *args, "--endpoint-url", self.endpoint, "--output", "json"],
                              capture_output=True, text=True, env=self.env, timeout=60)

    def __call__(self, service, *args):
        res = self.run(service, *args)
        if res.returncode != 0:
            raise AssertionError(f"aws {service} {' '.join(args)} exited {res.returncode}:\n{res.stderr}")
        return json.loads(res.stdout) if res.stdout.strip() else None

    def cloud_map(self):
        ns = unique("cli")
        op = self("servicediscovery", "create-http-namespace", "--name", ns)["OperationId"]
        ns_id = self("servicediscovery", "get-operation", "--operation-id", op)["Operation"]["Targets"]["NAMESPACE"]
        svc = self("servicediscovery", "create-service", "--name", "web", "--namespace-id", ns_id)["Service"]["Id"]
        self("servicediscovery", "register-instance", "--service-id", svc, "--instance-id", "web-1",
             "--attributes", "AWS_INSTANCE_IPV4=10.0.0.1,AWS_INSTANCE_PORT=8080")
        found = self("servicediscovery", "discover-instances", "--namespace-name", ns, "--service-name", "web")
        rev = self("servicediscovery", "discover-instances-revision", "--namespace-name", ns, "--service-name", "web")
        return [i["InstanceId"] for i in found["Instances"]], rev["InstancesRevision"]

    def app_mesh(self):
        mesh = unique("cli")
        self("appmesh", "create-mesh", "--mesh-name", mesh)
        out = self("appmesh", "describe-mesh", "--mesh-name", mesh)
        return out["mesh"]["metadata"]["version"]


class TestSettings(unittest.TestCase):
    """The settings that turn the prefix off, against http://127.0.0.1:PORT."""

    def test_boto3_config(self):
        sd, am, sent = clients(SERVER.url, inject_host_prefix=False)
        found, rev = cloud_map(sd)
        self.assertEqual(found, ["web-1"])
        self.assertGreater(rev, 0)
        self.assertIn(f"DiscoverInstances {SERVER.url}/", sent)
        self.assertEqual(app_mesh(am), [1, 2])

    def test_boto3_environment(self):
        # botocore reads AWS_DISABLE_HOST_PREFIX_INJECTION (boto/botocore#3405).
        with unittest.mock.patch.dict(os.environ, {"AWS_DISABLE_HOST_PREFIX_INJECTION": "true"}):
            sd, _, sent = clients(SERVER.url)
            self.assertEqual(cloud_map(sd)[0], ["web-1"])
        self.assertIn(f"DiscoverInstancesRevision {SERVER.url}/", sent)

    def test_boto3_config_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".config") as f:
            f.write("[default]\ndisable_host_prefix_injection = true\n")
            f.flush()
            env = env_without_prefix_setting(AWS_CONFIG_FILE=f.name)
            with unittest.mock.patch.dict(os.environ, env, clear=True):
                sd, _, sent = clients(SERVER.url)
                self.assertEqual(cloud_map(sd)[0], ["web-1"])
        self.assertIn(f"DiscoverInstances {SERVER.url}/", sent)

    def test_boto3_prefix_on_by_default(self):
        with unittest.mock.patch.dict(os.environ, env_without_prefix_setting(), clear=True):
            sd, _, sent = clients(SERVER.url)
            with self.assertRaises(botocore.exceptions.EndpointConnectionError):
                cloud_map(sd)
        self.assertEqual(sent[-1], f"DiscoverInstances http://data-127.0.0.1:{SERVER.port}/")

    def test_boto3_http_proxy(self):
        # With mapmesh as the HTTP proxy, no name has to resolve: the client
        # hands the whole URL (http://data-<host>:PORT/) to the proxy, and
        # mapmesh serves it whatever the host. botocore proxies loopback
        # endpoints too (unless NO_PROXY says otherwise).
        for host in ["mapmesh.invalid", "127.0.0.1"]:
            with self.subTest(host=host):
                endpoint = f"http://{host}:{SERVER.port}"
                with unittest.mock.patch.dict(os.environ, env_without_prefix_setting(HTTP_PROXY=SERVER.url), clear=True):
                    sd, am, sent = clients(endpoint)
                    self.assertEqual(cloud_map(sd)[0], ["web-1"])
                    self.assertEqual(app_mesh(am), [1, 2])
                self.assertIn(f"DiscoverInstances http://data-{host}:{SERVER.port}/", sent)

    @unittest.skipIf(AWS is None, "the AWS CLI (aws) is not on PATH")
    def test_cli_environment(self):
        cli = CLI(SERVER.url, env_without_prefix_setting(AWS_DISABLE_HOST_PREFIX_INJECTION="true"))
        self.assertEqual(cli.cloud_map()[0], ["web-1"])
        self.assertEqual(cli.app_mesh(), 1)

    @unittest.skipIf(AWS is None, "the AWS CLI (aws) is not on PATH")
    def test_cli_config_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".config") as f:
            f.write("[default]\ndisable_host_prefix_injection = true\n")
            f.flush()
            cli = CLI(SERVER.url, env_without_prefix_setting(AWS_CONFIG_FILE=f.name))
            self.assertEqual(cli.cloud_map()[0], ["web-1"])

    @unittest.skipIf(AWS is None, "the AWS CLI (aws) is not on PATH")
    def test_cli_http_proxy(self):
        cli = CLI(SERVER.url, env_without_prefix_setting(HTTP_PROXY=SERVER.url))
        self.assertEqual(cli.cloud_map()[0], ["web-1"])


@unittest.skipUnless(NETNS, "needs test/netns/run (make test-endpoints)")
class TestSystemResolver(unittest.TestCase):
    """No client setting at all: the endpoint forms whose data- name the
    system resolves, inside test/netns/run."""

    FORMS = [
        ("localhost", "/etc/hosts maps data-localhost"),
        ("mapmesh.internal", "mapmesh's DNS answers both names (--dns-self-name)"),
        ("mapmesh.localhost", "nss-myhostname maps *.localhost to loopback"),
    ]

    def setUp(self):
        self.env = env_without_prefix_setting()

    def check_form(self, host):
        if host == "mapmesh.localhost" and not MYHOSTNAME:
            self.skipTest("no nss-myhostname in this namespace")

    def test_boto3(self):
        for host, why in self.FORMS:
            with self.subTest(host=host, why=why):
                self.check_form(host)
                endpoint = f"http://{host}:{NETNS_PORT}"
                with unittest.mock.patch.dict(os.environ, self.env, clear=True):
                    sd, am, sent = clients(endpoint)
                    found, rev = cloud_map(sd)
                    self.assertEqual(found, ["web-1"])
                    self.assertGreater(rev, 0)
                    self.assertEqual(app_mesh(am), [1, 2])
                self.assertIn(f"DiscoverInstances http://data-{host}:{NETNS_PORT}/", sent)
                self.assertIn(f"DiscoverInstancesRevision http://data-{host}:{NETNS_PORT}/", sent)

    @unittest.skipIf(AWS is None, "the AWS CLI (aws) is not on PATH")
    def test_cli(self):
        for host, why in self.FORMS:
            with self.subTest(host=host, why=why):
                self.check_form(host)
                cli = CLI(f"http://{host}:{NETNS_PORT}", self.env)
                found, rev = cli.cloud_map()
                self.assertEqual(found, ["web-1"])
                self.assertGreater(rev, 0)
                self.assertEqual(cli.app_mesh(), 1)

    def test_control(self):
        # http://127.0.0.1:PORT with no setting: data-127.0.0.1 resolves
        # nowhere, so DiscoverInstances fails (the prefix is really on).
        with unittest.mock.patch.dict(os.environ, self.env, clear=True):
            sd, _, sent = clients(f"http://127.0.0.1:{NETNS_PORT}")
            with self.assertRaises(botocore.exceptions.EndpointConnectionError):
                cloud_map(sd)
        self.assertEqual(sent[-1], f"DiscoverInstances http://data-127.0.0.1:{NETNS_PORT}/")
        if AWS is not None:
            res = CLI(f"http://127.0.0.1:{NETNS_PORT}", self.env).run(
                "servicediscovery", "discover-instances", "--namespace-name", "x", "--service-name", "y")
            self.assertNotEqual(res.returncode, 0)
            self.assertIn(f"data-127.0.0.1:{NETNS_PORT}", res.stderr)


if __name__ == "__main__":
    unittest.main()

"""The App Mesh 2018-10-01 API (no Go SDK speaks it) against a real mapmesh:
botocore with api_version='2018-10-01' for all 19 operations and their
modeled errors, the AWS CLI with an AWS config file that sets
`api_versions = appmesh = 2018-10-01`, and cross-version checks against the
2019-01-25 client on the same server.

Run from the repository root: python3 -m unittest discover -s test/python -v
"""

import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import mapmeshtest

SERVER = None
AWS = shutil.which("aws")
# Operations of the 2018 API that reached the server and got an answer.
CALLED = set()
RAN = set()
# A small quota so LimitExceededException is quick to reach.
NODES_PER_MESH = 3


def setUpModule():
    global SERVER
    SERVER = mapmeshtest.start_module_server("--appmesh-quota-virtual-nodes-per-mesh", str(NODES_PER_MESH))


def _record(model, **_):
    CALLED.add(model.name)


def appmesh(api_version="2018-10-01"):
    """A boto3 appmesh client of the given API version for the server."""
    import boto3
    from botocore.config import Config

    c = boto3.session.Session(
        aws_access_key_id=mapmeshtest.ACCESS_KEY, aws_secret_access_key=mapmeshtest.SECRET_KEY,
        region_name=mapmeshtest.REGION,
    ).client("appmesh", api_version=api_version, endpoint_url=SERVER.url,
             config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    if api_version == "2018-10-01":
        c.meta.events.register("after-call.app-mesh", _record)
    return c


ARN = f"arn:aws:appmesh:{mapmeshtest.REGION}:{mapmeshtest.ACCOUNT}:mesh/"
NODE_SPEC = {
    "backends": ["b.local"],
    "listeners": [{
        "portMapping": {"port": 8080, "protocol": "http"},
        "healthCheck": {"healthyThreshold": 2, "unhealthyThreshold": 3, "intervalMillis": 5000,
                        "timeoutMillis": 2000, "protocol": "http", "path": "/ping"},
    }],
    "serviceDiscovery": {"dns": {"serviceName": "vn.m.local"}},
}


def route_spec(prefix, **weights):
    return {"httpRoute": {"match": {"prefix": prefix}, "action": {
        "weightedTargets": [{"virtualNode": n, "weight": w} for n, w in sorted(weights.items())]}}}


class Case(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.am = appmesh()
        cls.ga = appmesh("2019-01-25")

    def setUp(self):
        SERVER.reset()
        RAN.add(self.id())

    def assertRecent(self, ts, what):
        self.assertIsInstance(ts, datetime.datetime, what)
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - ts).total_seconds()), 300, f"{what} = {ts}")

    def assertMeta2018(self, meta, arn, version):
        self.assertEqual(meta["arn"], arn)
        self.assertRegex(meta["uid"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        self.assertEqual(meta["version"], version)
        self.assertRecent(meta["createdAt"], "createdAt")
        self.assertRecent(meta["lastUpdatedAt"], "lastUpdatedAt")
        self.assertNotIn("meshOwner", meta)

    def assertError(self, cm, code, status):
        e = cm.exception
        self.assertEqual(e.response["Error"]["Code"], code, e.response)
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], status, e.response)
        self.assertTrue(e.response["Error"].get("Message"), e.response)

    def fixture(self):
        """Mesh m, node vn, router vr (serviceNames s.local) and route r."""
        self.am.create_mesh(meshName="m")
        self.am.create_virtual_node(meshName="m", virtualNodeName="vn", spec=NODE_SPEC)
        self.am.create_virtual_router(meshName="m", virtualRouterName="vr", spec={"serviceNames": ["s.local"]})
        self.am.create_route(meshName="m", virtualRouterName="vr", routeName="r", spec=route_spec("/", vn=100))


class TestMesh(Case):
    def test_lifecycle(self):
        m = self.am.create_mesh(meshName="m", clientToken="tok")["mesh"]
        self.assertEqual(m["meshName"], "m")
        self.assertEqual(m["status"]["status"], "ACTIVE")
        self.assertNotIn("spec", m)
        self.assertMeta2018(m["metadata"], ARN + "m", 1)
        # Same token, same request: the original response.
        again = self.am.create_mesh(meshName="m", clientToken="tok")["mesh"]
        self.assertEqual(again["metadata"]["uid"], m["metadata"]["uid"])
        self.assertEqual(self.am.describe_mesh(meshName="m")["mesh"], m)
        self.am.create_mesh(meshName="a")
        self.assertEqual([x["meshName"] for x in self.am.list_meshes()["meshes"]], ["a", "m"])
        self.assertEqual(self.am.list_meshes()["meshes"][1], {"arn": ARN + "m", "meshName": "m"})
        d = self.am.delete_mesh(meshName="m")["mesh"]
        self.assertEqual(d["status"]["status"], "DELETED")
        with self.assertRaises(self.am.exceptions.NotFoundException) as cm:
            self.am.describe_mesh(meshName="m")
        self.assertError(cm, "NotFoundException", 404)
        self.assertNotEqual(self.am.create_mesh(meshName="m")["mesh"]["metadata"]["uid"], m["metadata"]["uid"])

    def test_errors(self):
        self.am.create_mesh(meshName="m", clientToken="tok")
        with self.assertRaises(self.am.exceptions.ConflictException) as cm:
            self.am.create_mesh(meshName="m")
        self.assertError(cm, "ConflictException", 409)
        with self.assertRaises(self.am.exceptions.ConflictException) as cm:
            self.am.create_mesh(meshName="other", clientToken="tok")
        self.assertError(cm, "ConflictException", 409)
        with self.assertRaises(self.am.exceptions.BadRequestException) as cm:
            self.am.create_mesh(meshName="x" * 256)
        self.assertError(cm, "BadRequestException", 400)
        self.am.create_virtual_node(meshName="m", virtualNodeName="vn", spec=NODE_SPEC)
        with self.assertRaises(self.am.exceptions.ResourceInUseException) as cm:
            self.am.delete_mesh(meshName="m")
        self.assertError(cm, "ResourceInUseException", 409)
        with self.assertRaises(self.am.exceptions.NotFoundException) as cm:
            self.am.delete_mesh(meshName="nope")
        self.assertError(cm, "NotFoundException", 404)

    def test_pagination(self):
        for i in range(5):
            self.am.create_mesh(meshName=f"m{i}")
        page = self.am.list_meshes(limit=2)
        self.assertEqual(len(page["meshes"]), 2)
        self.assertIn("nextToken", page)
        names = [m["meshName"] for p in self.am.get_paginator("list_meshes").paginate(PaginationConfig={"PageSize": 2})
                 for m in p["meshes"]]
        self.assertEqual(names, [f"m{i}" for i in range(5)])
        with self.assertRaises(self.am.exceptions.BadRequestException) as cm:
            self.am.list_meshes(nextToken="garbled!")
        self.assertError(cm, "BadRequestException", 400)
        with self.assertRaises(self.am.exceptions.BadRequestException):
            self.am.list_meshes(limit=101)


class TestVirtualNode(Case):
    def test_lifecycle(self):
        self.am.create_mesh(meshName="m")
        vn = self.am.create_virtual_node(meshName="m", virtualNodeName="vn", spec=NODE_SPEC)["virtualNode"]
        self.assertEqual(vn["spec"], NODE_SPEC)
        self.assertMeta2018(vn["metadata"], ARN + "m/virtualNode/vn", 1)
        self.assertEqual(self.am.describe_virtual_node(meshName="m", virtualNodeName="vn")["virtualNode"], vn)
        spec = dict(NODE_SPEC, backends=["b.local", "c.local"])
        u = self.am.update_virtual_node(meshName="m", virtualNodeName="vn", spec=spec)["virtualNode"]
        self.assertEqual(u["spec"], spec)
        self.assertEqual(u["metadata"]["version"], 2)
        self.assertEqual(self.am.list_virtual_nodes(meshName="m")["virtualNodes"],
                         [{"arn": ARN + "m/virtualNode/vn", "meshName": "m", "virtualNodeName": "vn"}])
        d = self.am.delete_virtual_node(meshName="m", virtualNodeName="vn")["virtualNode"]
        self.assertEqual(d["status"]["status"], "DELETED")
        self.assertEqual(self.am.list_virtual_nodes(meshName="m")["virtualNodes"], [])

    def test_errors(self):
        self.am.create_mesh(meshName="m")
        with self.assertRaises(self.am.exceptions.NotFoundException) as cm:
            self.am.create_virtual_node(meshName="nope", virtualNodeName="vn", spec=NODE_SPEC)
        self.assertError(cm, "NotFoundException", 404)
        with self.assertRaises(self.am.exceptions.BadRequestException) as cm:
            # botocore checks neither enums nor maximum lengths; the server must.
            self.am.create_virtual_node(meshName="m", virtualNodeName="v" * 256,
                                        spec={"listeners": [{"portMapping": {"port": 80, "protocol": "udp"}}]})
        self.assertError(cm, "BadRequestException", 400)
        self.assertIn("2 validation errors detected", cm.exception.response["Error"]["Message"])
        for i in range(NODES_PER_MESH):
            self.am.create_virtual_node(meshName="m", virtualNodeName=f"vn{i}", spec=NODE_SPEC)
        with self.assertRaises(self.am.exceptions.LimitExceededException) as cm:
            self.am.create_virtual_node(meshName="m", virtualNodeName="more", spec=NODE_SPEC)
        self.assertError(cm, "LimitExceededException", 400)
        with self.assertRaises(self.am.exceptions.ConflictException) as cm:
            self.am.create_virtual_node(meshName="m", virtualNodeName="vn0", spec=NODE_SPEC)
        self.assertError(cm, "ConflictException", 409)
        for op in (self.am.describe_virtual_node, self.am.delete_virtual_node):
            with self.assertRaises(self.am.exceptions.NotFoundException):
                op(meshName="m", virtualNodeName="nope")
        with self.assertRaises(self.am.exceptions.NotFoundException):
            self.am.update_virtual_node(meshName="m", virtualNodeName="nope", spec=NODE_SPEC)
        with self.assertRaises(self.am.exceptions.NotFoundException):
            self.am.list_virtual_nodes(meshName="nope")


class TestRouterAndRoutes(Case):
    def test_lifecycle(self):
        self.fixture()
        self.am.create_virtual_node(meshName="m", virtualNodeName="vn2", spec=NODE_SPEC)
        vr = self.am.describe_virtual_router(meshName="m", virtualRouterName="vr")["virtualRouter"]
        self.assertEqual(vr["spec"], {"serviceNames": ["s.local"]})
        self.assertMeta2018(vr["metadata"], ARN + "m/virtualRouter/vr", 1)
        u = self.am.update_virtual_router(meshName="m", virtualRouterName="vr",
                                          spec={"serviceNames": ["t.local", "s.local"]})["virtualRouter"]
        self.assertEqual(u["spec"]["serviceNames"], ["t.local", "s.local"])
        self.assertEqual(u["metadata"]["version"], 2)
        self.assertEqual([r["virtualRouterName"] for r in self.am.list_virtual_routers(meshName="m")["virtualRouters"]], ["vr"])

        r = self.am.describe_route(meshName="m", virtualRouterName="vr", routeName="r")["route"]
        self.assertEqual(r["spec"], route_spec("/", vn=100))
        self.assertMeta2018(r["metadata"], ARN + "m/virtualRouter/vr/route/r", 1)
        u = self.am.update_route(meshName="m", virtualRouterName="vr", routeName="r",
                                 spec=route_spec("/api", vn=80, vn2=20))["route"]
        self.assertEqual(u["spec"], route_spec("/api", vn=80, vn2=20))
        self.assertEqual(u["metadata"]["version"], 2)
        self.assertEqual(self.am.list_routes(meshName="m", virtualRouterName="vr")["routes"],
                         [{"arn": ARN + "m/virtualRouter/vr/route/r", "meshName": "m", "routeName": "r", "virtualRouterName": "vr"}])
        # The node is a route target: in use.
        with self.assertRaises(self.am.exceptions.ResourceInUseException) as cm:
            self.am.delete_virtual_node(meshName="m", virtualNodeName="vn")
        self.assertError(cm, "ResourceInUseException", 409)
        with self.assertRaises(self.am.exceptions.ResourceInUseException):
            self.am.delete_virtual_router(meshName="m", virtualRouterName="vr")
        self.assertEqual(self.am.delete_route(meshName="m", virtualRouterName="vr", routeName="r")["route"]["status"]["status"], "DELETED")
        d = self.am.delete_virtual_router(meshName="m", virtualRouterName="vr")["virtualRouter"]
        self.assertEqual(d["status"]["status"], "DELETED")
        # Its implicit virtual services went with it.
        self.assertEqual(self.ga.list_virtual_services(meshName="m")["virtualServices"], [])

    def test_errors(self):
        self.fixture()
        with self.assertRaises(self.am.exceptions.NotFoundException) as cm:
            self.am.create_route(meshName="m", virtualRouterName="nope", routeName="r2", spec=route_spec("/", vn=1))
        self.assertError(cm, "NotFoundException", 404)
        with self.assertRaises(self.am.exceptions.NotFoundException):
            self.am.create_route(meshName="m", virtualRouterName="vr", routeName="r2", spec=route_spec("/", ghost=1))
        with self.assertRaises(self.am.exceptions.BadRequestException):
            self.am.create_route(meshName="m", virtualRouterName="vr", routeName="r2", spec=route_spec("/", vn=101))
        with self.assertRaises(self.am.exceptions.BadRequestException):
            self.am.create_route(meshName="m", virtualRouterName="vr", routeName="r2", spec=route_spec("no-slash", vn=1))
        with self.assertRaises(self.am.exceptions.ConflictException):
            self.am.create_route(meshName="m", virtualRouterName="vr", routeName="r", spec=route_spec("/", vn=1))
        with self.assertRaises(self.am.exceptions.ConflictException):
            self.am.create_virtual_router(meshName="m", virtualRouterName="vr", spec={"serviceNames": []})
        with self.assertRaises(self.am.exceptions.BadRequestException):
            self.am.create_virtual_router(meshName="m", virtualRouterName="vr2", spec={"serviceNames": [f"s{i}" for i in range(11)]})
        # Another router cannot take a service name the first one serves.
        with self.assertRaises(self.am.exceptions.ConflictException):
            self.am.create_virtual_router(meshName="m", virtualRouterName="vr2", spec={"serviceNames": ["s.local"]})
        for op in (self.am.describe_route, self.am.delete_route):
            with self.assertRaises(self.am.exceptions.NotFoundException):
                op(meshName="m", virtualRouterName="vr", routeName="nope")
        with self.assertRaises(self.am.exceptions.NotFoundException):
            self.am.update_route(meshName="m", virtualRouterName="vr", routeName="nope", spec=route_spec("/", vn=1))
        with self.assertRaises(self.am.exceptions.NotFoundException):
            self.am.list_routes(meshName="m", virtualRouterName="nope")
        for op in (self.am.describe_virtual_router, self.am.delete_virtual_router):
            with self.assertRaises(self.am.exceptions.NotFoundException):
                op(meshName="m", virtualRouterName="nope")
        with self.assertRaises(self.am.exceptions.NotFoundException):
            self.am.update_virtual_router(meshName="m", virtualRouterName="nope", spec={"serviceNames": []})
        with self.assertRaises(self.am.exceptions.NotFoundException):
            self.am.list_virtual_routers(meshName="nope")


class TestCrossVersion(Case):
    """Create in one version; read, update and delete in the other."""

    def test_2018_to_2019(self):
        self.fixture()
        vn = self.ga.describe_virtual_node(meshName="m", virtualNodeName="vn")["virtualNode"]
        self.assertEqual(vn["spec"]["backends"], [{"virtualService": {"virtualServiceName": "b.local"}}])
        self.assertEqual(vn["spec"]["serviceDiscovery"], {"dns": {"hostname": "vn.m.local"}})
        self.assertEqual(vn["metadata"]["meshOwner"], mapmeshtest.ACCOUNT)
        vs = self.ga.describe_virtual_service(meshName="m", virtualServiceName="s.local")["virtualService"]
        self.assertEqual(vs["spec"], {"provider": {"virtualRouter": {"virtualRouterName": "vr"}}})
        # 2019 adds TLS to the listener; a 2018 update keeps it.
        spec = vn["spec"]
        spec["listeners"][0]["tls"] = {"mode": "STRICT", "certificate": {"file": {"certificateChain": "/c", "privateKey": "/k"}}}
        self.ga.update_virtual_node(meshName="m", virtualNodeName="vn", spec=spec)
        self.am.update_virtual_node(meshName="m", virtualNodeName="vn", spec=dict(NODE_SPEC, backends=[]))
        vn = self.ga.describe_virtual_node(meshName="m", virtualNodeName="vn")["virtualNode"]
        self.assertEqual(vn["spec"]["listeners"][0]["tls"]["mode"], "STRICT")
        self.assertNotIn("backends", vn["spec"])
        self.assertEqual(vn["metadata"]["version"], 3)
        # 2019 deletes what 2018 made.
        self.ga.delete_route(meshName="m", virtualRouterName="vr", routeName="r")
        self.ga.delete_virtual_router(meshName="m", virtualRouterName="vr")
        self.ga.delete_virtual_node(meshName="m", virtualNodeName="vn")
        self.assertEqual(self.ga.delete_mesh(meshName="m")["mesh"]["status"]["status"], "DELETED")

    def test_2019_to_2018(self):
        self.ga.create_mesh(meshName="m", spec={"egressFilter": {"type": "ALLOW_ALL"}})
        self.ga.create_virtual_node(meshName="m", virtualNodeName="vn", spec={
            "listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"}}],
            "serviceDiscovery": {"awsCloudMap": {"namespaceName": "ns", "serviceName": "svc"}},
            "backends": [{"virtualService": {"virtualServiceName": "a.local"}}]})
        self.ga.create_virtual_router(meshName="m", virtualRouterName="vr", spec={"listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"}}]})
        self.ga.create_virtual_service(meshName="m", virtualServiceName="a.local", spec={"provider": {"virtualRouter": {"virtualRouterName": "vr"}}})
        self.ga.create_route(meshName="m", virtualRouterName="vr", routeName="g", spec={"grpcRoute": {
            "match": {"serviceName": "pkg.Svc"}, "action": {"weightedTargets": [{"virtualNode": "vn", "weight": 1}]}}})
        self.assertNotIn("spec", self.am.describe_mesh(meshName="m")["mesh"])
        vn = self.am.describe_virtual_node(meshName="m", virtualNodeName="vn")["virtualNode"]
        self.assertEqual(vn["spec"], {"backends": ["a.local"], "listeners": [{"portMapping": {"port": 9090, "protocol": "grpc"}}]})
        vr = self.am.describe_virtual_router(meshName="m", virtualRouterName="vr")["virtualRouter"]
        self.assertEqual(vr["spec"], {"serviceNames": ["a.local"]})
        self.assertEqual(self.am.describe_route(meshName="m", virtualRouterName="vr", routeName="g")["route"]["spec"], {})
        # 2018 updates the 2019 route into an HTTP route, and deletes it all.
        self.am.update_route(meshName="m", virtualRouterName="vr", routeName="g", spec=route_spec("/", vn=1))
        self.assertIn("httpRoute", self.ga.describe_route(meshName="m", virtualRouterName="vr", routeName="g")["route"]["spec"])
        self.am.delete_route(meshName="m", virtualRouterName="vr", routeName="g")
        with self.assertRaises(self.am.exceptions.ResourceInUseException):
            self.am.delete_virtual_router(meshName="m", virtualRouterName="vr")  # a.local (2019) names it
        self.ga.delete_virtual_service(meshName="m", virtualServiceName="a.local")
        self.am.delete_virtual_router(meshName="m", virtualRouterName="vr")
        self.am.delete_virtual_node(meshName="m", virtualNodeName="vn")
        self.am.delete_mesh(meshName="m")
        self.assertEqual(self.ga.list_meshes()["meshes"], [])


class CLI:
    """`aws appmesh` with an AWS config file that pins appmesh to 2018-10-01."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory(prefix="mapmesh-cli-")
        self.config = os.path.join(self.dir.name, "config")
        with open(self.config, "w") as f:
            f.write("[default]\napi_versions =\n    appmesh = 2018-10-01\n")

    def run(self, *args):
        env = SERVER.aws_env()
        env["AWS_CONFIG_FILE"] = self.config
        cmd = [AWS, "appmesh", *args, "--endpoint-url", SERVER.url, "--output", "json"]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)

    def __call__(self, *args):
        res = self.run(*args)
        if res.returncode != 0:
            raise AssertionError(f"aws appmesh {' '.join(args)} exited {res.returncode}:\n{res.stderr}")
        out = res.stdout.strip()
        return json.loads(out) if out else None


@unittest.skipIf(AWS is None, "the AWS CLI (aws) is not on PATH")
class TestCLI2018(Case):
    """All 19 operations of 2018-10-01 through the AWS CLI."""

    def test_all_operations(self):
        cli = CLI()
        self.addCleanup(cli.dir.cleanup)
        m = cli("create-mesh", "--mesh-name", "m")["mesh"]
        self.assertEqual(m["metadata"]["arn"], ARN + "m")
        self.assertNotIn("meshOwner", m["metadata"])  # proof that the 2018 model parsed the answer
        self.assertEqual(cli("describe-mesh", "--mesh-name", "m")["mesh"]["meshName"], "m")
        self.assertEqual(cli("list-meshes")["meshes"], [{"arn": ARN + "m", "meshName": "m"}])
        vn = cli("create-virtual-node", "--mesh-name", "m", "--virtual-node-name", "vn", "--spec", json.dumps(NODE_SPEC))["virtualNode"]
        self.assertEqual(vn["spec"]["backends"], ["b.local"])
        self.assertEqual(cli("describe-virtual-node", "--mesh-name", "m", "--virtual-node-name", "vn")["virtualNode"]["spec"], NODE_SPEC)
        u = cli("update-virtual-node", "--mesh-name", "m", "--virtual-node-name", "vn", "--spec", json.dumps(dict(NODE_SPEC, backends=[])))
        self.assertEqual(u["virtualNode"]["metadata"]["version"], 2)
        self.assertEqual(len(cli("list-virtual-nodes", "--mesh-name", "m")["virtualNodes"]), 1)
        vr = cli("create-virtual-router", "--mesh-name", "m", "--virtual-router-name", "vr", "--spec", '{"serviceNames":["s.local"]}')
        self.assertEqual(vr["virtualRouter"]["spec"]["serviceNames"], ["s.local"])
        self.assertEqual(cli("describe-virtual-router", "--mesh-name", "m", "--virtual-router-name", "vr")["virtualRouter"]["virtualRouterName"], "vr")
        cli("update-virtual-router", "--mesh-name", "m", "--virtual-router-name", "vr", "--spec", '{"serviceNames":["s.local","t.local"]}')
        self.assertEqual(len(cli("list-virtual-routers", "--mesh-name", "m")["virtualRouters"]), 1)
        r = cli("create-route", "--mesh-name", "m", "--virtual-router-name", "vr", "--route-name", "r", "--spec", json.dumps(route_spec("/", vn=100)))
        self.assertEqual(r["route"]["spec"], route_spec("/", vn=100))
        self.assertEqual(cli("describe-route", "--mesh-name", "m", "--virtual-router-name", "vr", "--route-name", "r")["route"]["routeName"], "r")
        cli("update-route", "--mesh-name", "m", "--virtual-router-name", "vr", "--route-name", "r", "--spec", json.dumps(route_spec("/v2", vn=100)))
        self.assertEqual(len(cli("list-routes", "--mesh-name", "m", "--virtual-router-name", "vr")["routes"]), 1)
        # Errors come out as the CLI prints AWS errors.
        res = cli.run("delete-virtual-node", "--mesh-name", "m", "--virtual-node-name", "vn")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("(ResourceInUseException)", res.stderr)
        res = cli.run("describe-mesh", "--mesh-name", "nope")
        self.assertIn("(NotFoundException)", res.stderr)
        # The 2019 view, through the default CLI, sees the same resources.
        env = SERVER.aws_env()
        ga = subprocess.run([AWS, "appmesh", "list-virtual-services", "--mesh-name", "m", "--endpoint-url", SERVER.url, "--output", "json"],
                            capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(ga.returncode, 0, ga.stderr)
        self.assertEqual(sorted(v["virtualServiceName"] for v in json.loads(ga.stdout)["virtualServices"]), ["s.local", "t.local"])
        self.assertEqual(cli("delete-route", "--mesh-name", "m", "--virtual-router-name", "vr", "--route-name", "r")["route"]["status"]["status"], "DELETED")
        self.assertEqual(cli("delete-virtual-router", "--mesh-name", "m", "--virtual-router-name", "vr")["virtualRouter"]["status"]["status"], "DELETED")
        self.assertEqual(cli("delete-virtual-node", "--mesh-name", "m", "--virtual-node-name", "vn")["virtualNode"]["status"]["status"], "DELETED")
        self.assertEqual(cli("delete-mesh", "--mesh-name", "m")["mesh"]["status"]["status"], "DELETED")


class TestZOperationCoverage(unittest.TestCase):
    """Runs last (classes run in name order): every 2018 operation was called through botocore."""

    def test_every_operation_called(self):
        here = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
        others = {t.id() for suite in here for t in suite if not t.id().startswith(type(self).__module__ + ".TestZ")
                  and not t.id().startswith(type(self).__module__ + ".TestCLI")}
        if not others <= RAN:
            self.skipTest("only part of the module ran; operation coverage needs all of it")
        ops = set(appmesh().meta.service_model.operation_names)
        self.assertEqual(len(ops), 19)
        self.assertEqual(ops - CALLED, set(), "2018-10-01 operations no test called")


if __name__ == "__main__":
    unittest.main()

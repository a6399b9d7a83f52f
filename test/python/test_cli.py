"""The AWS CLI against a real mapmesh: `aws servicediscovery ...` with
--endpoint-url, fake credentials, empty config files and
AWS_DISABLE_HOST_PREFIX_INJECTION=true, parsing --output json.

Run from the repository root: python3 -m unittest discover -s test/python -v
"""

import datetime
import json
import shutil
import subprocess
import time
import unittest

import mapmeshtest

SERVER = None
AWS = shutil.which("aws")


def setUpModule():
    global SERVER
    if AWS is None:
        raise unittest.SkipTest("the AWS CLI (aws) is not on PATH")
    SERVER = mapmeshtest.start_module_server()


class CLIError(Exception):
    def __init__(self, args, res):
        super().__init__(f"aws {' '.join(args)} exited {res.returncode}:\n{res.stderr}")
        self.returncode = res.returncode
        self.stderr = res.stderr


def run(*args, env=None):
    """Run `aws servicediscovery ARGS` against the server; return the process."""
    cmd = [AWS, "servicediscovery", *args, "--endpoint-url", SERVER.url, "--output", "json"]
    e = SERVER.aws_env()
    e.update(env or {})
    return subprocess.run(cmd, capture_output=True, text=True, env=e, timeout=60)


def aws(*args, **kw):
    """Run `aws servicediscovery ARGS`; return its JSON output (None when
    it prints nothing); raise CLIError when it fails."""
    res = run(*args, **kw)
    if res.returncode != 0:
        raise CLIError(args, res)
    out = res.stdout.strip()
    return json.loads(out) if out else None


class Case(unittest.TestCase):
    def setUp(self):
        SERVER.reset()

    def assertTimestamp(self, v, what):
        # CLI v1 prints the wire value, which must be epoch seconds (a JSON
        # number); v2 prints ISO 8601 by default.
        if isinstance(v, str):
            ts = datetime.datetime.fromisoformat(v).timestamp()
        else:
            self.assertIsInstance(v, (int, float), f"{what} = {v!r}")
            ts = v
        self.assertLess(abs(time.time() - ts), 300, f"{what} = {v!r}; want about now")

    def assertFails(self, code, *args):
        with self.assertRaises(CLIError) as cm:
            aws(*args)
        self.assertNotEqual(cm.exception.returncode, 0)
        self.assertIn(f"({code})", cm.exception.stderr)
        return cm.exception.stderr

    def operation(self, op_id, want_type):
        op = aws("get-operation", "--operation-id", op_id)["Operation"]
        self.assertEqual(op["Type"], want_type, op)
        self.assertEqual(op["Status"], "SUCCESS", op)
        self.assertTimestamp(op["CreateDate"], "Operation.CreateDate")
        return op


class TestCLI(Case):
    def test_walkthrough(self):
        op_id = aws("create-http-namespace", "--name", "demo", "--description", "cli test")["OperationId"]
        ns_id = self.operation(op_id, "CREATE_NAMESPACE")["Targets"]["NAMESPACE"]

        nss = aws("list-namespaces")["Namespaces"]
        self.assertEqual([(n["Id"], n["Name"], n["Type"]) for n in nss], [(ns_id, "demo", "HTTP")])
        self.assertEqual(nss[0]["Properties"]["HttpProperties"]["HttpName"], "demo")
        self.assertTimestamp(nss[0]["CreateDate"], "NamespaceSummary.CreateDate")

        svc = aws("create-service", "--name", "web", "--namespace-id", ns_id)["Service"]
        self.assertEqual((svc["Name"], svc["NamespaceId"], svc["Type"]), ("web", ns_id, "HTTP"))
        self.assertTimestamp(svc["CreateDate"], "Service.CreateDate")

        op_id = aws("register-instance", "--service-id", svc["Id"], "--instance-id", "web-1",
                    "--attributes", "AWS_INSTANCE_IPV4=10.0.0.1,AWS_INSTANCE_PORT=8080,stage=prod")["OperationId"]
        op = self.operation(op_id, "REGISTER_INSTANCE")
        self.assertEqual(op["Targets"].get("INSTANCE"), "web-1")

        found = aws("discover-instances", "--namespace-name", "demo", "--service-name", "web")
        self.assertEqual(found["Instances"], [{
            "InstanceId": "web-1", "NamespaceName": "demo", "ServiceName": "web", "HealthStatus": "UNKNOWN",
            "Attributes": {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "8080", "stage": "prod"},
        }])
        rev = aws("discover-instances-revision", "--namespace-name", "demo", "--service-name", "web")
        self.assertEqual(rev["InstancesRevision"], found["InstancesRevision"])
        self.assertIsInstance(rev["InstancesRevision"], int)

        inst = aws("get-instance", "--service-id", svc["Id"], "--instance-id", "web-1")["Instance"]
        self.assertEqual(inst["Attributes"]["stage"], "prod")
        listed = aws("list-instances", "--service-id", svc["Id"])["Instances"]
        self.assertEqual([i["Id"] for i in listed], ["web-1"])

        ops = aws("list-operations")["Operations"]
        self.assertEqual(len(ops), 2)  # the namespace and the registration
        self.assertTrue(all(o["Status"] == "SUCCESS" for o in ops), ops)

        op_id = aws("deregister-instance", "--service-id", svc["Id"], "--instance-id", "web-1")["OperationId"]
        self.operation(op_id, "DEREGISTER_INSTANCE")
        self.assertIn(aws("delete-service", "--id", svc["Id"]), (None, {}))
        op_id = aws("delete-namespace", "--id", ns_id)["OperationId"]
        self.operation(op_id, "DELETE_NAMESPACE")
        self.assertEqual(aws("list-namespaces")["Namespaces"], [])

    def test_dns_namespace_and_custom_health(self):
        op_id = aws("create-private-dns-namespace", "--name", "corp.internal", "--vpc", "vpc-0abc")["OperationId"]
        ns_id = self.operation(op_id, "CREATE_NAMESPACE")["Targets"]["NAMESPACE"]
        svc = aws("create-service", "--name", "db", "--namespace-id", ns_id,
                  "--dns-config", "RoutingPolicy=MULTIVALUE,DnsRecords=[{Type=A,TTL=60}]",
                  "--health-check-custom-config", "{}")["Service"]
        self.assertEqual(svc["Type"], "DNS_HTTP")
        self.assertEqual(svc["DnsConfig"]["NamespaceId"], ns_id)
        self.assertEqual(svc["DnsConfig"]["DnsRecords"], [{"Type": "A", "TTL": 60}])
        self.assertEqual(svc["HealthCheckCustomConfig"], {"FailureThreshold": 1})
        aws("register-instance", "--service-id", svc["Id"], "--instance-id", "db-1",
            "--attributes", "AWS_INSTANCE_IPV4=10.0.1.1")
        self.assertIsNone(aws("update-instance-custom-health-status", "--service-id", svc["Id"],
                              "--instance-id", "db-1", "--status", "UNHEALTHY"))
        status = aws("get-instances-health-status", "--service-id", svc["Id"])["Status"]
        self.assertEqual(status, {"db-1": "UNHEALTHY"})
        found = aws("discover-instances", "--namespace-name", "corp.internal", "--service-name", "db",
                    "--health-status", "HEALTHY_OR_ELSE_ALL")["Instances"]
        self.assertEqual([(i["InstanceId"], i["HealthStatus"]) for i in found], [("db-1", "UNHEALTHY")])

    def test_modeled_errors(self):
        self.assertFails("NamespaceNotFound", "get-namespace", "--id", "ns-aaaaaaaaaaaaaaaa")
        aws("create-http-namespace", "--name", "demo")
        self.assertFails("NamespaceAlreadyExists", "create-http-namespace", "--name", "demo")
        self.assertFails("ServiceNotFound", "discover-instances", "--namespace-name", "demo", "--service-name", "none")

    def test_pagination(self):
        want = set()
        for i in range(3):
            op_id = aws("create-http-namespace", "--name", f"ns-{i}")["OperationId"]
            want.add(aws("get-operation", "--operation-id", op_id)["Operation"]["Targets"]["NAMESPACE"])
        # The CLI follows NextToken itself; one namespace a page.
        ids = [n["Id"] for n in aws("list-namespaces", "--page-size", "1")["Namespaces"]]
        self.assertEqual(len(ids), 3, ids)
        self.assertEqual(set(ids), want)
        first = aws("list-namespaces", "--max-items", "2", "--page-size", "1")
        self.assertEqual(len(first["Namespaces"]), 2)
        rest = aws("list-namespaces", "--page-size", "1", "--starting-token", first["NextToken"])
        self.assertEqual({n["Id"] for n in first["Namespaces"] + rest["Namespaces"]}, want)

    def test_host_prefix_injection_needs_disabling(self):
        # What the README explains: with the prefix on, the CLI sends
        # DiscoverInstances to data-127.0.0.1, which does not resolve.
        aws("create-http-namespace", "--name", "demo")
        res = run("discover-instances", "--namespace-name", "demo", "--service-name", "web",
                  env={"AWS_DISABLE_HOST_PREFIX_INJECTION": "false", "AWS_MAX_ATTEMPTS": "1"})
        self.assertNotEqual(res.returncode, 0, res.stdout)
        self.assertIn(f"data-127.0.0.1:{SERVER.port}", res.stderr)


if __name__ == "__main__":
    unittest.main()

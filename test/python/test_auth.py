"""boto3 and the AWS CLI against a mapmesh that verifies SigV4
(--credentials-file): a known identity acts in its own account, and every
way a signature can be wrong gets AWS's error on both protocols (Cloud Map
answers 400, App Mesh 403).

Run from the repository root: python3 -m unittest discover -s test/python -v
"""

import os
import shutil
import subprocess
import tempfile
import unittest

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

import mapmeshtest

SERVER = None
AWS = shutil.which("aws")
ACCOUNT_A = "111111111111"
KEY_B, SECRET_B, ACCOUNT_B = "AKIDMAPMESHTEAMB", "team-b-secret", "222222222222"
_tmp = None


def setUpModule():
    global SERVER, _tmp
    _tmp = tempfile.TemporaryDirectory(prefix="mapmesh-auth-")
    creds = os.path.join(_tmp.name, "credentials")
    with open(creds, "w") as f:
        f.write(f"[team-a]\naws_access_key_id = {mapmeshtest.ACCESS_KEY}\n"
                f"aws_secret_access_key = {mapmeshtest.SECRET_KEY}\naws_account_id = {ACCOUNT_A}\n\n"
                f"[team-b]\naws_access_key_id = {KEY_B}\naws_secret_access_key = {SECRET_B}\n"
                f"aws_account_id = {ACCOUNT_B}\n")
    SERVER = mapmeshtest.start_module_server("--credentials-file", creds)
    unittest.addModuleCleanup(_tmp.cleanup)


def client(service, key=mapmeshtest.ACCESS_KEY, secret=mapmeshtest.SECRET_KEY):
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret,
                                 region_name=mapmeshtest.REGION).client(
        service, endpoint_url=SERVER.url,
        config=Config(inject_host_prefix=False, retries={"max_attempts": 1, "mode": "standard"}))


class Boto3AuthTest(unittest.TestCase):
    def test_identities_act_in_their_accounts(self):
        sd = client("servicediscovery")
        op = sd.create_http_namespace(Name="auth-a")["OperationId"]
        ns_id = sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
        self.assertIn(f":{ACCOUNT_A}:", sd.get_namespace(Id=ns_id)["Namespace"]["Arn"])
        mesh = client("appmesh").create_mesh(meshName="auth-a")["mesh"]
        self.assertEqual(mesh["metadata"]["meshOwner"], ACCOUNT_A)
        # Team B sees nothing of team A's.
        sd_b = client("servicediscovery", KEY_B, SECRET_B)
        with self.assertRaises(ClientError) as cm:
            sd_b.get_namespace(Id=ns_id)
        self.assertEqual(cm.exception.response["Error"]["Code"], "NamespaceNotFound")
        self.assertEqual(client("appmesh", KEY_B, SECRET_B).list_meshes()["meshes"], [])

    def check(self, service, call, key, secret, code, status, message):
        with self.assertRaises(ClientError) as cm:
            call(client(service, key, secret))
        err = cm.exception.response
        self.assertEqual(err["Error"]["Code"], code)
        self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertIn(message, err["Error"]["Message"])

    def test_wrong_secret(self):
        self.check("servicediscovery", lambda c: c.list_namespaces(), mapmeshtest.ACCESS_KEY, "wrong",
                   "InvalidSignatureException", 400, "does not match")
        self.check("appmesh", lambda c: c.list_meshes(), mapmeshtest.ACCESS_KEY, "wrong",
                   "InvalidSignatureException", 403, "does not match")

    def test_unknown_key(self):
        self.check("servicediscovery", lambda c: c.list_namespaces(), "AKIDNOBODY", "x",
                   "UnrecognizedClientException", 400, "security token included in the request is invalid")
        self.check("appmesh", lambda c: c.list_meshes(), "AKIDNOBODY", "x",
                   "UnrecognizedClientException", 403, "security token included in the request is invalid")

    def test_unsigned(self):
        from botocore import UNSIGNED
        for service, call, status in [("servicediscovery", lambda c: c.list_namespaces(), 400),
                                      ("appmesh", lambda c: c.list_meshes(), 403)]:
            c = boto3.session.Session(region_name=mapmeshtest.REGION).client(
                service, endpoint_url=SERVER.url, config=Config(signature_version=UNSIGNED, retries={"max_attempts": 1}))
            with self.assertRaises(ClientError) as cm:
                call(c)
            err = cm.exception.response
            self.assertEqual(err["Error"]["Code"], "MissingAuthenticationTokenException")
            self.assertEqual(err["ResponseMetadata"]["HTTPStatusCode"], status)


@unittest.skipIf(AWS is None, "the AWS CLI (aws) is not on PATH")
class CLIAuthTest(unittest.TestCase):
    def run_cli(self, *args, secret=mapmeshtest.SECRET_KEY):
        env = SERVER.aws_env()
        env["AWS_SECRET_ACCESS_KEY"] = secret
        return subprocess.run([AWS, *args, "--endpoint-url", SERVER.url, "--output", "json"],
                              capture_output=True, text=True, env=env, timeout=60)

    def test_verified(self):
        res = self.run_cli("servicediscovery", "list-namespaces")
        self.assertEqual(res.returncode, 0, res.stderr)
        res = self.run_cli("appmesh", "list-meshes")
        self.assertEqual(res.returncode, 0, res.stderr)

    def test_wrong_secret(self):
        for args in [("servicediscovery", "list-namespaces"), ("appmesh", "list-meshes")]:
            res = self.run_cli(*args, secret="wrong")
            self.assertNotEqual(res.returncode, 0)
            self.assertIn("InvalidSignatureException", res.stderr)

    def test_no_sign_request(self):
        res = self.run_cli("servicediscovery", "list-namespaces", "--no-sign-request")
        self.assertNotEqual(res.returncode, 0)
        self.assertIn("MissingAuthenticationTokenException", res.stderr)


if __name__ == "__main__":
    unittest.main()

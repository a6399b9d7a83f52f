"""boto3 against a real mapmesh: every servicediscovery operation, modeled
errors as boto3 exception classes, paginators, timestamps, the data- host
prefix, and a moto-style suite that resets the server between tests.

Run from the repository root: python3 -m unittest discover -s test/python -v
"""

import datetime
import socket
import time
import sys
import unittest

import mapmeshtest

SERVER = None

# Operations that reached the server and got an answer (success or a
# modeled error), recorded by every client the tests make.
CALLED = set()
# Tests that ran, for the coverage check at the end.
RAN = set()


def setUpModule():
    global SERVER
    SERVER = mapmeshtest.start_module_server()


def _record(model, **_):
    CALLED.add(model.name)


def client(**kw):
    c = SERVER.client(**kw)
    c.meta.events.register("after-call.servicediscovery", _record)
    return c


class Case(unittest.TestCase):
    """Each test starts on an empty server."""

    @classmethod
    def setUpClass(cls):
        cls.sd = client()

    def setUp(self):
        SERVER.reset()
        RAN.add(self.id())

    # Helpers.

    def assertRecent(self, ts, what):
        self.assertIsInstance(ts, datetime.datetime, what)
        self.assertIsNotNone(ts.tzinfo, f"{what} is naive: {ts!r}")
        now = datetime.datetime.now(datetime.timezone.utc)
        self.assertLess(abs((now - ts).total_seconds()), 300, f"{what} = {ts}; want about now ({now})")

    def assertModeledError(self, cm, code):
        e = cm.exception
        self.assertEqual(e.response["Error"]["Code"], code)
        self.assertEqual(e.response["ResponseMetadata"]["HTTPStatusCode"], 400, e.response)
        self.assertTrue(e.response["Error"].get("Message"), f"{code} has no Message: {e.response}")
        return e.response

    def operation(self, op_id, want_type):
        """Wait for an operation to finish; return it (SUCCESS asserted)."""
        deadline = time.monotonic() + 10
        while True:
            op = self.sd.get_operation(OperationId=op_id)["Operation"]
            if op["Status"] not in ("SUBMITTED", "PENDING") or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        self.assertEqual(op["Id"], op_id)
        self.assertEqual(op["Type"], want_type, op)
        self.assertEqual(op["Status"], "SUCCESS", op)
        self.assertEqual(op["OwnerAccount"], mapmeshtest.ACCOUNT)
        self.assertRecent(op["CreateDate"], "Operation.CreateDate")
        self.assertRecent(op["UpdateDate"], "Operation.UpdateDate")
        return op

    def http_namespace(self, name="ns", **kw):
        op = self.sd.create_http_namespace(Name=name, **kw)
        return self.operation(op["OperationId"], "CREATE_NAMESPACE")["Targets"]["NAMESPACE"]

    def private_namespace(self, name="corp.internal", vpc="vpc-0abc", **kw):
        op = self.sd.create_private_dns_namespace(Name=name, Vpc=vpc, **kw)
        return self.operation(op["OperationId"], "CREATE_NAMESPACE")["Targets"]["NAMESPACE"]

    def service(self, ns_id, name="web", **kw):
        return self.sd.create_service(Name=name, NamespaceId=ns_id, **kw)["Service"]["Id"]

    def register(self, svc_id, inst_id, **attrs):
        attrs = attrs or {"AWS_INSTANCE_IPV4": "10.0.0.1"}
        op = self.sd.register_instance(ServiceId=svc_id, InstanceId=inst_id, Attributes=attrs)
        return self.operation(op["OperationId"], "REGISTER_INSTANCE")


class TestNamespaces(Case):
    def test_create_and_get_http_namespace(self):
        op = self.sd.create_http_namespace(Name="shop", Description="the shop", CreatorRequestId="req-shop")
        o = self.operation(op["OperationId"], "CREATE_NAMESPACE")
        ns_id = o["Targets"]["NAMESPACE"]
        self.assertRegex(ns_id, r"^ns-[a-z2-7]{16}$")
        ns = self.sd.get_namespace(Id=ns_id)["Namespace"]
        self.assertEqual(ns["Id"], ns_id)
        self.assertEqual(ns["Arn"], f"arn:aws:servicediscovery:{mapmeshtest.REGION}:{mapmeshtest.ACCOUNT}:namespace/{ns_id}")
        self.assertEqual(ns["Name"], "shop")
        self.assertEqual(ns["Type"], "HTTP")
        self.assertEqual(ns["Description"], "the shop")
        self.assertEqual(ns["ServiceCount"], 0)
        self.assertEqual(ns["ResourceOwner"], mapmeshtest.ACCOUNT)
        self.assertEqual(ns["CreatorRequestId"], "req-shop")
        self.assertEqual(ns["Properties"]["HttpProperties"]["HttpName"], "shop")
        self.assertRecent(ns["CreateDate"], "Namespace.CreateDate")
        # The ARN works as the ID too.
        self.assertEqual(self.sd.get_namespace(Id=ns["Arn"])["Namespace"]["Id"], ns_id)

    def test_namespace_already_exists(self):
        ns_id = self.http_namespace("shop", CreatorRequestId="req-1")
        with self.assertRaises(self.sd.exceptions.NamespaceAlreadyExists) as cm:
            self.sd.create_http_namespace(Name="shop", CreatorRequestId="req-2")
        r = self.assertModeledError(cm, "NamespaceAlreadyExists")
        self.assertEqual(r["NamespaceId"], ns_id)
        self.assertEqual(r["CreatorRequestId"], "req-1")

    def test_create_namespace_retry_is_idempotent(self):
        first = self.sd.create_http_namespace(Name="shop", CreatorRequestId="req-retry")["OperationId"]
        again = self.sd.create_http_namespace(Name="shop", CreatorRequestId="req-retry")["OperationId"]
        self.assertEqual(again, first)
        self.assertEqual(len(self.sd.list_namespaces()["Namespaces"]), 1)

    def test_invalid_input(self):
        # The model's NamespaceNameHttp pattern is ^(?!arn:)...; botocore
        # does not check patterns, so the server must.
        with self.assertRaises(self.sd.exceptions.InvalidInput) as cm:
            self.sd.create_http_namespace(Name="arn:aws:nope")
        self.assertModeledError(cm, "InvalidInput")
        # botocore checks no maximums either: MaxResults is 1..100 here,
        # and model validation failures are InvalidInput too.
        with self.assertRaises(self.sd.exceptions.InvalidInput) as cm:
            self.sd.list_namespaces(MaxResults=101)
        self.assertModeledError(cm, "InvalidInput")

    def test_private_dns_namespace(self):
        ns_id = self.private_namespace("corp.internal", "vpc-0abc",
                                       Properties={"DnsProperties": {"SOA": {"TTL": 30}}})
        ns = self.sd.get_namespace(Id=ns_id)["Namespace"]
        self.assertEqual(ns["Type"], "DNS_PRIVATE")
        self.assertEqual(ns["Name"], "corp.internal")
        dns = ns["Properties"]["DnsProperties"]
        self.assertRegex(dns["HostedZoneId"], r"^Z[0-9A-Z]+$")
        self.assertEqual(dns["SOA"]["TTL"], 30)
        self.assertEqual(ns["Properties"]["HttpProperties"]["HttpName"], "corp.internal")

        op = self.sd.update_private_dns_namespace(
            Id=ns_id, Namespace={"Description": "private", "Properties": {"DnsProperties": {"SOA": {"TTL": 60}}}})
        o = self.operation(op["OperationId"], "UPDATE_NAMESPACE")
        self.assertEqual(o["Targets"], {"NAMESPACE": ns_id})
        ns = self.sd.get_namespace(Id=ns_id)["Namespace"]
        self.assertEqual(ns["Description"], "private")
        self.assertEqual(ns["Properties"]["DnsProperties"]["SOA"]["TTL"], 60)

    def test_public_dns_namespace(self):
        op = self.sd.create_public_dns_namespace(Name="example.com")
        ns_id = self.operation(op["OperationId"], "CREATE_NAMESPACE")["Targets"]["NAMESPACE"]
        ns = self.sd.get_namespace(Id=ns_id)["Namespace"]
        self.assertEqual(ns["Type"], "DNS_PUBLIC")
        self.assertEqual(ns["Properties"]["DnsProperties"]["SOA"]["TTL"], 15)  # AWS's default for new namespaces
        op = self.sd.update_public_dns_namespace(Id=ns_id, Namespace={"Description": "public"})
        self.operation(op["OperationId"], "UPDATE_NAMESPACE")
        self.assertEqual(self.sd.get_namespace(Id=ns_id)["Namespace"]["Description"], "public")

    def test_update_http_namespace(self):
        ns_id = self.http_namespace("shop", Description="old")
        op = self.sd.update_http_namespace(Id=ns_id, Namespace={"Description": "new"})
        self.operation(op["OperationId"], "UPDATE_NAMESPACE")
        self.assertEqual(self.sd.get_namespace(Id=ns_id)["Namespace"]["Description"], "new")

    def test_delete_namespace(self):
        ns_id = self.http_namespace("shop")
        svc_id = self.service(ns_id)
        with self.assertRaises(self.sd.exceptions.ResourceInUse) as cm:
            self.sd.delete_namespace(Id=ns_id)
        self.assertModeledError(cm, "ResourceInUse")
        self.sd.delete_service(Id=svc_id)
        op = self.sd.delete_namespace(Id=ns_id)
        o = self.operation(op["OperationId"], "DELETE_NAMESPACE")
        self.assertEqual(o["Targets"], {"NAMESPACE": ns_id})
        with self.assertRaises(self.sd.exceptions.NamespaceNotFound) as cm:
            self.sd.get_namespace(Id=ns_id)
        self.assertModeledError(cm, "NamespaceNotFound")
        with self.assertRaises(self.sd.exceptions.NamespaceNotFound):
            self.sd.delete_namespace(Id=ns_id)

    def test_list_namespaces_paginator(self):
        want = {self.http_namespace(f"http-{i}") for i in range(5)}
        want |= {self.private_namespace(f"p{i}.internal") for i in range(2)}
        pages = list(self.sd.get_paginator("list_namespaces").paginate(PaginationConfig={"PageSize": 2}))
        ids = [ns["Id"] for p in pages for ns in p["Namespaces"]]
        self.assertGreaterEqual(len(pages), 4)
        self.assertEqual(len(ids), len(set(ids)), f"a namespace came twice: {ids}")
        self.assertEqual(set(ids), want)
        for p in pages:
            for ns in p["Namespaces"]:
                self.assertRecent(ns["CreateDate"], "NamespaceSummary.CreateDate")
        http = self.sd.list_namespaces(Filters=[{"Name": "TYPE", "Values": ["HTTP"], "Condition": "EQ"}])
        self.assertEqual(len(http["Namespaces"]), 5)
        self.assertTrue(all(ns["Type"] == "HTTP" for ns in http["Namespaces"]))


class TestServices(Case):
    def setUp(self):
        super().setUp()
        self.ns_id = self.http_namespace("shop")

    def test_create_http_service(self):
        svc = self.sd.create_service(Name="cart", NamespaceId=self.ns_id, Description="carts",
                                     CreatorRequestId="svc-req")["Service"]
        self.assertRegex(svc["Id"], r"^srv-[a-z2-7]{16}$")
        self.assertEqual(svc["Arn"], f"arn:aws:servicediscovery:{mapmeshtest.REGION}:{mapmeshtest.ACCOUNT}:service/{svc['Id']}")
        self.assertEqual(svc["Name"], "cart")
        self.assertEqual(svc["NamespaceId"], self.ns_id)
        self.assertEqual(svc["Description"], "carts")
        self.assertEqual(svc["Type"], "HTTP")
        self.assertEqual(svc["CreatorRequestId"], "svc-req")
        self.assertEqual(svc.get("DnsConfig", {}).get("DnsRecords", []), [])
        self.assertRecent(svc["CreateDate"], "Service.CreateDate")
        got = self.sd.get_service(Id=svc["Id"])["Service"]
        self.assertEqual(got["Id"], svc["Id"])
        self.assertEqual(got["InstanceCount"], 0)
        self.assertRecent(got["CreateDate"], "GetService CreateDate")
        self.assertEqual(self.sd.get_namespace(Id=self.ns_id)["Namespace"]["ServiceCount"], 1)

    def test_create_dns_service(self):
        ns_id = self.private_namespace()
        svc = self.sd.create_service(
            Name="db", NamespaceId=ns_id,
            DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 60}]},
            HealthCheckCustomConfig={"FailureThreshold": 3},
        )["Service"]
        self.assertEqual(svc["Type"], "DNS_HTTP")
        self.assertEqual(svc["DnsConfig"]["NamespaceId"], ns_id)
        self.assertEqual(svc["DnsConfig"]["RoutingPolicy"], "MULTIVALUE")
        self.assertEqual(svc["DnsConfig"]["DnsRecords"], [{"Type": "A", "TTL": 60}])
        # The deprecated FailureThreshold always reads 1.
        self.assertEqual(svc["HealthCheckCustomConfig"], {"FailureThreshold": 1})

        op = self.sd.update_service(Id=svc["Id"], Service={
            "Description": "database", "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 120}]}})
        o = self.operation(op["OperationId"], "UPDATE_SERVICE")
        self.assertEqual(o["Targets"].get("SERVICE"), svc["Id"])
        got = self.sd.get_service(Id=svc["Id"])["Service"]
        self.assertEqual(got["Description"], "database")
        self.assertEqual(got["DnsConfig"]["DnsRecords"], [{"Type": "A", "TTL": 120}])
        # ListServices' summaries leave the namespace out of DnsConfig.
        summary = self.sd.list_services()["Services"][0]
        self.assertEqual(summary["DnsConfig"], {"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 120}]})

        # An A record needs AWS_INSTANCE_IPV4.
        with self.assertRaises(self.sd.exceptions.InvalidInput) as cm:
            self.sd.register_instance(ServiceId=svc["Id"], InstanceId="db-1", Attributes={"role": "primary"})
        self.assertModeledError(cm, "InvalidInput")

    def test_update_service_in_http_namespace(self):
        svc_id = self.service(self.ns_id)
        with self.assertRaises(self.sd.exceptions.InvalidInput) as cm:
            self.sd.update_service(Id=svc_id, Service={"Description": "x"})
        self.assertModeledError(cm, "InvalidInput")

    def test_create_service_retry_and_recreate(self):
        first = self.service(self.ns_id, "cart", CreatorRequestId="svc-retry")
        # The same request with the same token is a retry, not a duplicate.
        again = self.sd.create_service(Name="cart", NamespaceId=self.ns_id, CreatorRequestId="svc-retry")["Service"]
        self.assertEqual(again["Id"], first)
        # Re-creating a deleted service gives it a new ID; the old one is gone.
        self.sd.delete_service(Id=first)
        self.assertNotEqual(self.service(self.ns_id, "cart"), first)
        with self.assertRaises(self.sd.exceptions.ServiceNotFound):
            self.sd.get_service(Id=first)

    def test_name_uniqueness(self):
        # Case-sensitive in HTTP namespaces, case-insensitive in DNS ones.
        self.service(self.ns_id, "cart")
        self.service(self.ns_id, "Cart")
        dns = self.private_namespace()
        records = {"DnsRecords": [{"Type": "A", "TTL": 60}]}
        self.service(dns, "db", DnsConfig=records)
        with self.assertRaises(self.sd.exceptions.ServiceAlreadyExists):
            self.sd.create_service(Name="DB", NamespaceId=dns, DnsConfig=records)

    def test_service_already_exists(self):
        svc_id = self.service(self.ns_id, "cart", CreatorRequestId="svc-1")
        with self.assertRaises(self.sd.exceptions.ServiceAlreadyExists) as cm:
            self.sd.create_service(Name="cart", NamespaceId=self.ns_id, CreatorRequestId="svc-2")
        r = self.assertModeledError(cm, "ServiceAlreadyExists")
        self.assertEqual(r["ServiceId"], svc_id)
        self.assertTrue(r["ServiceArn"].endswith(":service/" + svc_id), r["ServiceArn"])
        self.assertEqual(r["CreatorRequestId"], "svc-1")

    def test_not_found(self):
        with self.assertRaises(self.sd.exceptions.ServiceNotFound) as cm:
            self.sd.get_service(Id="srv-aaaaaaaaaaaaaaaa")
        self.assertModeledError(cm, "ServiceNotFound")
        with self.assertRaises(self.sd.exceptions.NamespaceNotFound) as cm:
            self.sd.create_service(Name="cart", NamespaceId="ns-aaaaaaaaaaaaaaaa")
        self.assertModeledError(cm, "NamespaceNotFound")

    def test_service_attributes(self):
        svc_id = self.service(self.ns_id)
        self.sd.update_service_attributes(ServiceId=svc_id, Attributes={"weight": "10", "timeout": "2s"})
        self.sd.update_service_attributes(ServiceId=svc_id, Attributes={"weight": "20"})
        attrs = self.sd.get_service_attributes(ServiceId=svc_id)["ServiceAttributes"]
        self.assertTrue(attrs["ServiceArn"].endswith(":service/" + svc_id), attrs)
        self.assertEqual(attrs["ResourceOwner"], mapmeshtest.ACCOUNT)
        self.assertEqual(attrs["Attributes"], {"weight": "20", "timeout": "2s"})
        self.sd.delete_service_attributes(ServiceId=svc_id, Attributes=["timeout", "absent"])
        self.assertEqual(self.sd.get_service_attributes(ServiceId=svc_id)["ServiceAttributes"]["Attributes"],
                         {"weight": "20"})
        with self.assertRaises(self.sd.exceptions.ServiceNotFound):
            self.sd.get_service_attributes(ServiceId="srv-aaaaaaaaaaaaaaaa")

    def test_delete_service(self):
        svc_id = self.service(self.ns_id)
        self.register(svc_id, "i-1")
        with self.assertRaises(self.sd.exceptions.ResourceInUse) as cm:
            self.sd.delete_service(Id=svc_id)
        self.assertModeledError(cm, "ResourceInUse")
        self.sd.deregister_instance(ServiceId=svc_id, InstanceId="i-1")
        self.sd.delete_service(Id=svc_id)
        with self.assertRaises(self.sd.exceptions.ServiceNotFound):
            self.sd.get_service(Id=svc_id)

    def test_list_services_paginator(self):
        other = self.http_namespace("other")
        want = {self.service(self.ns_id, f"svc-{i}") for i in range(5)}
        want_other = {self.service(other, f"svc-{i}") for i in range(2)}
        pages = list(self.sd.get_paginator("list_services").paginate(PaginationConfig={"PageSize": 2}))
        ids = [s["Id"] for p in pages for s in p["Services"]]
        self.assertGreaterEqual(len(pages), 4)
        self.assertEqual(len(ids), len(set(ids)), f"a service came twice: {ids}")
        self.assertEqual(set(ids), want | want_other)
        for p in pages:
            for s in p["Services"]:
                self.assertRecent(s["CreateDate"], "ServiceSummary.CreateDate")
        filtered = self.sd.get_paginator("list_services").paginate(
            Filters=[{"Name": "NAMESPACE_ID", "Values": [other], "Condition": "EQ"}]).build_full_result()
        self.assertEqual({s["Id"] for s in filtered["Services"]}, want_other)


class TestInstances(Case):
    def setUp(self):
        super().setUp()
        self.ns_id = self.http_namespace("shop")
        self.svc_id = self.service(self.ns_id, "web")

    def test_register_get_deregister(self):
        o = self.register(self.svc_id, "web-1", AWS_INSTANCE_IPV4="10.0.0.1", AWS_INSTANCE_PORT="80", stage="prod")
        self.assertEqual(o["Targets"].get("INSTANCE"), "web-1")
        self.assertEqual(o["Targets"].get("SERVICE"), self.svc_id)
        got = self.sd.get_instance(ServiceId=self.svc_id, InstanceId="web-1")
        self.assertEqual(got["ResourceOwner"], mapmeshtest.ACCOUNT)
        self.assertEqual(got["Instance"]["Id"], "web-1")
        self.assertEqual(got["Instance"]["Attributes"],
                         {"AWS_INSTANCE_IPV4": "10.0.0.1", "AWS_INSTANCE_PORT": "80", "stage": "prod"})
        # Registering again replaces the attributes wholesale.
        self.register(self.svc_id, "web-1", AWS_INSTANCE_IPV4="10.0.0.9")
        got = self.sd.get_instance(ServiceId=self.svc_id, InstanceId="web-1")["Instance"]
        self.assertEqual(got["Attributes"], {"AWS_INSTANCE_IPV4": "10.0.0.9"})
        self.assertEqual(self.sd.get_service(Id=self.svc_id)["Service"]["InstanceCount"], 1)

        op = self.sd.deregister_instance(ServiceId=self.svc_id, InstanceId="web-1")
        o = self.operation(op["OperationId"], "DEREGISTER_INSTANCE")
        self.assertEqual(o["Targets"].get("INSTANCE"), "web-1")
        with self.assertRaises(self.sd.exceptions.InstanceNotFound) as cm:
            self.sd.get_instance(ServiceId=self.svc_id, InstanceId="web-1")
        self.assertModeledError(cm, "InstanceNotFound")
        with self.assertRaises(self.sd.exceptions.InstanceNotFound):
            self.sd.deregister_instance(ServiceId=self.svc_id, InstanceId="web-1")
        with self.assertRaises(self.sd.exceptions.ServiceNotFound):
            self.sd.register_instance(ServiceId="srv-aaaaaaaaaaaaaaaa", InstanceId="x", Attributes={"a": "b"})

    def test_duplicate_request(self):
        first = self.sd.register_instance(ServiceId=self.svc_id, InstanceId="web-1",
                                          Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1"},
                                          CreatorRequestId="tok-1")["OperationId"]
        # A reused CreatorRequestId for a different instance is the old
        # request, never a new registration.
        with self.assertRaises(self.sd.exceptions.DuplicateRequest) as cm:
            self.sd.register_instance(ServiceId=self.svc_id, InstanceId="web-2",
                                      Attributes={"AWS_INSTANCE_IPV4": "10.0.0.2"}, CreatorRequestId="tok-1")
        r = self.assertModeledError(cm, "DuplicateRequest")
        self.assertEqual(r["DuplicateOperationId"], first)
        with self.assertRaises(self.sd.exceptions.InstanceNotFound):
            self.sd.get_instance(ServiceId=self.svc_id, InstanceId="web-2")
        # The same request again is a retry: the same operation.
        again = self.sd.register_instance(ServiceId=self.svc_id, InstanceId="web-1",
                                          Attributes={"AWS_INSTANCE_IPV4": "10.0.0.1"},
                                          CreatorRequestId="tok-1")["OperationId"]
        self.assertEqual(again, first)

    def test_list_instances_paginator(self):
        want = {f"web-{i}" for i in range(7)}
        for i in range(7):
            self.sd.register_instance(ServiceId=self.svc_id, InstanceId=f"web-{i}",
                                      Attributes={"AWS_INSTANCE_IPV4": f"10.0.0.{i}"})
        pages = list(self.sd.get_paginator("list_instances").paginate(
            ServiceId=self.svc_id, PaginationConfig={"PageSize": 3}))
        ids = [i["Id"] for p in pages for i in p["Instances"]]
        self.assertGreaterEqual(len(pages), 3)
        self.assertEqual(len(ids), len(set(ids)), f"an instance came twice: {ids}")
        self.assertEqual(set(ids), want)
        self.assertEqual(pages[0]["ResourceOwner"], mapmeshtest.ACCOUNT)
        with self.assertRaises(self.sd.exceptions.ServiceNotFound):
            self.sd.list_instances(ServiceId="srv-aaaaaaaaaaaaaaaa")

    def test_discover_instances(self):
        self.register(self.svc_id, "web-1", AWS_INSTANCE_IPV4="10.0.0.1", stage="prod", zone="a")
        self.register(self.svc_id, "web-2", AWS_INSTANCE_IPV4="10.0.0.2", stage="canary", zone="a")
        self.register(self.svc_id, "web-3", AWS_INSTANCE_IPV4="10.0.0.3", stage="prod", zone="b")
        out = self.sd.discover_instances(NamespaceName="shop", ServiceName="web")
        insts = {i["InstanceId"]: i for i in out["Instances"]}
        self.assertEqual(set(insts), {"web-1", "web-2", "web-3"})
        w1 = insts["web-1"]
        self.assertEqual(w1["NamespaceName"], "shop")
        self.assertEqual(w1["ServiceName"], "web")
        self.assertEqual(w1["HealthStatus"], "UNKNOWN")  # no health check configured
        self.assertEqual(w1["Attributes"], {"AWS_INSTANCE_IPV4": "10.0.0.1", "stage": "prod", "zone": "a"})
        self.assertIsInstance(out["InstancesRevision"], int)
        # Without a health check the status is UNKNOWN and the health
        # filter does not apply.
        self.assertEqual(len(self.sd.discover_instances(NamespaceName="shop", ServiceName="web",
                                                        HealthStatus="HEALTHY")["Instances"]), 3)
        self.assertEqual(self.sd.get_instances_health_status(ServiceId=self.svc_id)["Status"],
                         {"web-1": "UNKNOWN", "web-2": "UNKNOWN", "web-3": "UNKNOWN"})

        prod = self.sd.discover_instances(NamespaceName="shop", ServiceName="web", QueryParameters={"stage": "prod"})
        self.assertEqual({i["InstanceId"] for i in prod["Instances"]}, {"web-1", "web-3"})
        # OptionalParameters narrow only when something matches them.
        opt = self.sd.discover_instances(NamespaceName="shop", ServiceName="web",
                                         QueryParameters={"stage": "prod"}, OptionalParameters={"zone": "b"})
        self.assertEqual([i["InstanceId"] for i in opt["Instances"]], ["web-3"])
        opt = self.sd.discover_instances(NamespaceName="shop", ServiceName="web",
                                         QueryParameters={"stage": "prod"}, OptionalParameters={"zone": "z"})
        self.assertEqual(len(opt["Instances"]), 2)
        one = self.sd.discover_instances(NamespaceName="shop", ServiceName="web", MaxResults=1)
        self.assertEqual(len(one["Instances"]), 1)

        rev = self.sd.discover_instances_revision(NamespaceName="shop", ServiceName="web")["InstancesRevision"]
        self.assertEqual(rev, out["InstancesRevision"])
        self.sd.deregister_instance(ServiceId=self.svc_id, InstanceId="web-2")
        rev2 = self.sd.discover_instances_revision(NamespaceName="shop", ServiceName="web")["InstancesRevision"]
        self.assertGreater(rev2, rev)

        with self.assertRaises(self.sd.exceptions.NamespaceNotFound) as cm:
            self.sd.discover_instances(NamespaceName="nope", ServiceName="web")
        self.assertModeledError(cm, "NamespaceNotFound")
        with self.assertRaises(self.sd.exceptions.ServiceNotFound) as cm:
            self.sd.discover_instances_revision(NamespaceName="shop", ServiceName="nope")
        self.assertModeledError(cm, "ServiceNotFound")

    def test_custom_health(self):
        svc_id = self.service(self.ns_id, "api", HealthCheckCustomConfig={})
        self.register(svc_id, "api-1", AWS_INSTANCE_IPV4="10.0.1.1")
        self.register(svc_id, "api-2", AWS_INSTANCE_IPV4="10.0.1.2", AWS_INIT_HEALTH_STATUS="UNHEALTHY")
        status = self.sd.get_instances_health_status(ServiceId=svc_id)["Status"]
        self.assertEqual(status, {"api-1": "HEALTHY", "api-2": "UNHEALTHY"})

        # The server runs with the default --custom-health-delay 0s.
        self.sd.update_instance_custom_health_status(ServiceId=svc_id, InstanceId="api-1", Status="UNHEALTHY")
        self.sd.update_instance_custom_health_status(ServiceId=svc_id, InstanceId="api-2", Status="HEALTHY")
        status = self.sd.get_instances_health_status(ServiceId=svc_id, Instances=["api-1"])["Status"]
        self.assertEqual(status, {"api-1": "UNHEALTHY"})

        def discover(health):
            out = self.sd.discover_instances(NamespaceName="shop", ServiceName="api", HealthStatus=health)
            return {i["InstanceId"]: i["HealthStatus"] for i in out["Instances"]}

        self.assertEqual(discover("HEALTHY"), {"api-2": "HEALTHY"})
        self.assertEqual(discover("UNHEALTHY"), {"api-1": "UNHEALTHY"})
        self.assertEqual(discover("ALL"), {"api-1": "UNHEALTHY", "api-2": "HEALTHY"})
        self.sd.update_instance_custom_health_status(ServiceId=svc_id, InstanceId="api-2", Status="UNHEALTHY")
        self.assertEqual(discover("HEALTHY"), {})
        self.assertEqual(discover("HEALTHY_OR_ELSE_ALL"), {"api-1": "UNHEALTHY", "api-2": "UNHEALTHY"})

        self.register(self.svc_id, "web-1")
        with self.assertRaises(self.sd.exceptions.CustomHealthNotFound) as cm:
            self.sd.update_instance_custom_health_status(ServiceId=self.svc_id, InstanceId="web-1", Status="HEALTHY")
        self.assertModeledError(cm, "CustomHealthNotFound")
        with self.assertRaises(self.sd.exceptions.InstanceNotFound):
            self.sd.get_instances_health_status(ServiceId=svc_id, Instances=["nope"])


class TestOperations(Case):
    def test_list_operations_paginator_and_filters(self):
        start_ms = int(time.time() * 1000) - 1000
        ns_id = self.http_namespace("shop")
        svc_id = self.service(ns_id)
        registered = [self.register(svc_id, f"web-{i}")["Id"] for i in range(4)]
        dereg = self.sd.deregister_instance(ServiceId=svc_id, InstanceId="web-0")["OperationId"]
        other = self.http_namespace("other")
        end_ms = int(time.time() * 1000) + 1000

        pages = list(self.sd.get_paginator("list_operations").paginate(PaginationConfig={"PageSize": 3}))
        ops = [o for p in pages for o in p["Operations"]]
        ids = [o["Id"] for o in ops]
        self.assertGreaterEqual(len(pages), 3)
        self.assertEqual(len(ids), len(set(ids)), f"an operation came twice: {ids}")
        self.assertEqual(len(ids), 7)  # 2 namespaces, 4 registrations, 1 deregistration
        self.assertLessEqual(set(registered) | {dereg}, set(ids))
        self.assertTrue(all(o["Status"] == "SUCCESS" for o in ops), ops)

        def listed(*filters):
            return {o["Id"] for o in self.sd.get_paginator("list_operations").paginate(
                Filters=list(filters)).build_full_result()["Operations"]}

        self.assertEqual(listed({"Name": "TYPE", "Values": ["REGISTER_INSTANCE"], "Condition": "EQ"}), set(registered))
        self.assertEqual(listed({"Name": "SERVICE_ID", "Values": [svc_id], "Condition": "EQ"}), set(registered) | {dereg})
        self.assertEqual(len(listed({"Name": "NAMESPACE_ID", "Values": [other], "Condition": "EQ"})), 1)
        self.assertEqual(listed({"Name": "TYPE", "Values": ["DEREGISTER_INSTANCE", "UPDATE_SERVICE"], "Condition": "IN"},
                                {"Name": "STATUS", "Values": ["SUCCESS"], "Condition": "EQ"}), {dereg})
        self.assertEqual(len(listed({"Name": "UPDATE_DATE", "Values": [str(start_ms), str(end_ms)], "Condition": "BETWEEN"})), 7)
        self.assertEqual(listed({"Name": "UPDATE_DATE", "Values": [str(end_ms + 60000), str(end_ms + 120000)],
                                 "Condition": "BETWEEN"}), set())

    def test_operation_not_found(self):
        with self.assertRaises(self.sd.exceptions.OperationNotFound) as cm:
            self.sd.get_operation(OperationId="aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-k9302yzd")
        self.assertModeledError(cm, "OperationNotFound")


class TestTags(Case):
    def test_tags(self):
        op = self.sd.create_http_namespace(Name="shop", Tags=[{"Key": "team", "Value": "payments"}])
        ns_id = self.operation(op["OperationId"], "CREATE_NAMESPACE")["Targets"]["NAMESPACE"]
        ns_arn = self.sd.get_namespace(Id=ns_id)["Namespace"]["Arn"]
        self.assertEqual(self.sd.list_tags_for_resource(ResourceARN=ns_arn)["Tags"], [{"Key": "team", "Value": "payments"}])
        self.sd.tag_resource(ResourceARN=ns_arn, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "cart"}])
        tags = {t["Key"]: t["Value"] for t in self.sd.list_tags_for_resource(ResourceARN=ns_arn)["Tags"]}
        self.assertEqual(tags, {"team": "cart", "env": "dev"})
        self.sd.untag_resource(ResourceARN=ns_arn, TagKeys=["team"])
        self.assertEqual(self.sd.list_tags_for_resource(ResourceARN=ns_arn)["Tags"], [{"Key": "env", "Value": "dev"}])

        svc = self.sd.create_service(Name="web", NamespaceId=ns_id, Tags=[{"Key": "tier", "Value": "front"}])["Service"]
        self.assertEqual(self.sd.list_tags_for_resource(ResourceARN=svc["Arn"])["Tags"], [{"Key": "tier", "Value": "front"}])

        missing = f"arn:aws:servicediscovery:{mapmeshtest.REGION}:{mapmeshtest.ACCOUNT}:namespace/ns-aaaaaaaaaaaaaaaa"
        with self.assertRaises(self.sd.exceptions.ResourceNotFoundException) as cm:
            self.sd.list_tags_for_resource(ResourceARN=missing)
        self.assertModeledError(cm, "ResourceNotFoundException")
        with self.assertRaises(self.sd.exceptions.ResourceNotFoundException):
            self.sd.tag_resource(ResourceARN=missing, Tags=[{"Key": "a", "Value": "b"}])

    def test_too_many_tags(self):
        ns_id = self.http_namespace("shop")
        ns_arn = self.sd.get_namespace(Id=ns_id)["Namespace"]["Arn"]
        with self.assertRaises(self.sd.exceptions.TooManyTagsException) as cm:
            self.sd.tag_resource(ResourceARN=ns_arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
        r = self.assertModeledError(cm, "TooManyTagsException")
        self.assertEqual(r["ResourceName"], ns_arn)


class TestHostPrefix(Case):
    """DiscoverInstances with botocore's data- host prefix left on."""

    def setUp(self):
        super().setUp()
        ns_id = self.http_namespace("shop")
        self.register(self.service(ns_id, "web"), "web-1")

    def test_injection_via_dns(self):
        try:
            socket.getaddrinfo("data-localhost", SERVER.port)
        except socket.gaierror as e:
            self.skipTest(f"data-localhost does not resolve here ({e}); with endpoint http://localhost:PORT "
                          "botocore sends DiscoverInstances to http://data-localhost:PORT/")
        sd = client(endpoint_url=f"http://localhost:{SERVER.port}", inject_host_prefix=True)
        out = sd.discover_instances(NamespaceName="shop", ServiceName="web")
        self.assertEqual([i["InstanceId"] for i in out["Instances"]], ["web-1"])

    def test_injection_via_proxy(self):
        # With mapmesh as the HTTP proxy, the request really is sent for
        # http://data-localhost:PORT/ (Host: data-localhost:PORT) without
        # that name having to resolve: mapmesh must not route on Host.
        sd = client(endpoint_url=f"http://localhost:{SERVER.port}", inject_host_prefix=True,
                    proxies={"http": SERVER.url})
        urls = []
        sd.meta.events.register("before-send.servicediscovery", lambda request, **_: urls.append(request.url))
        out = sd.discover_instances(NamespaceName="shop", ServiceName="web")
        self.assertEqual([i["InstanceId"] for i in out["Instances"]], ["web-1"])
        self.assertIsInstance(sd.discover_instances_revision(NamespaceName="shop", ServiceName="web")["InstancesRevision"], int)
        self.assertEqual(urls, [f"http://data-localhost:{SERVER.port}/"] * 2)


class TestMotoStyleReset(unittest.TestCase):
    """A suite written for moto's server mode: it POSTs /moto-api/reset
    before every test and reuses the same names in each."""

    @classmethod
    def setUpClass(cls):
        cls.sd = client()

    def setUp(self):
        status, _ = SERVER.post("/moto-api/reset")
        self.assertEqual(status, 200)
        RAN.add(self.id())

    def check_fresh_world(self):
        self.assertEqual(self.sd.list_namespaces()["Namespaces"], [])
        self.assertEqual(self.sd.list_services()["Services"], [])
        self.assertEqual(self.sd.list_operations()["Operations"], [])
        op = self.sd.create_http_namespace(Name="moto-ns", CreatorRequestId="moto-token")["OperationId"]
        ns_id = self.sd.get_operation(OperationId=op)["Operation"]["Targets"]["NAMESPACE"]
        svc_id = self.sd.create_service(Name="moto-svc", NamespaceId=ns_id, CreatorRequestId="moto-svc-token")["Service"]["Id"]
        self.sd.register_instance(ServiceId=svc_id, InstanceId="i-1", Attributes={"AWS_INSTANCE_IPV4": "10.1.1.1"},
                                  CreatorRequestId="moto-inst-token")
        out = self.sd.discover_instances(NamespaceName="moto-ns", ServiceName="moto-svc")
        self.assertEqual([i["InstanceId"] for i in out["Instances"]], ["i-1"])

    def test_first(self):
        self.check_fresh_world()

    def test_second(self):
        self.check_fresh_world()

    def test_third(self):
        self.check_fresh_world()


class TestZOperationCoverage(unittest.TestCase):
    """Runs last (classes run in name order): every operation was called."""

    def test_every_operation_called(self):
        here = unittest.defaultTestLoader.loadTestsFromModule(sys.modules[__name__])
        others = {t.id() for suite in here for t in suite if not t.id().startswith(type(self).__module__ + ".TestZ")}
        if not others <= RAN:
            self.skipTest("only part of test_boto3 ran; operation coverage needs the whole module")
        ops = set(client().meta.service_model.operation_names)
        self.assertEqual(len(ops), 30)
        self.assertEqual(ops - CALLED, set(), "operations no test called")


if __name__ == "__main__":
    unittest.main()

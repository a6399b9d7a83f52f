// The AWS SDK for JavaScript v3 against mapmesh, on the forms that work
// without changing the machine's name resolution (netns.test.mjs has the
// rest). Run: make test-js.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Agent } from "node:http";

import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { AppMeshClient } from "@aws-sdk/client-app-mesh";

import { appMesh, cloudMap, credentials, lookupThrough, packageVersions, recordHosts, region, startServer } from "./harness.mjs";

const server = await startServer();
const opts = { region, credentials, maxAttempts: 1 };
console.log("SDK versions:", packageVersions());

test("disableHostPrefix: true sends DiscoverInstances to the endpoint as given", async () => {
  const sd = new ServiceDiscoveryClient({ ...opts, endpoint: server.url, disableHostPrefix: true });
  const hosts = recordHosts(sd);
  const got = await cloudMap(sd);
  assert.deepEqual(got.instances, ["web-1 10.0.0.1:8080"]);
  assert.ok(got.revision > 0, `InstancesRevision = ${got.revision}`);
  assert.ok(hosts.includes("DiscoverInstancesCommand 127.0.0.1"), hosts.join("\n"));
  assert.ok(hosts.includes("DiscoverInstancesRevisionCommand 127.0.0.1"), hosts.join("\n"));
});

test("App Mesh has no host prefix: any endpoint works", async () => {
  const am = new AppMeshClient({ ...opts, endpoint: server.url });
  const got = await appMesh(am);
  assert.deepEqual(got.versions, [1, 2]);
  assert.equal(got.port, 9090);
  assert.match(got.arn, /^arn:aws:appmesh:us-east-1:123456789012:mesh\/js-[0-9]+-[0-9]+\/virtualNode\/web$/);
});

test("without disableHostPrefix the prefix is added, and AWS_DISABLE_HOST_PREFIX_INJECTION is ignored", async () => {
  process.env.AWS_DISABLE_HOST_PREFIX_INJECTION = "true";
  try {
    const sd = new ServiceDiscoveryClient({ ...opts, endpoint: server.url });
    const hosts = recordHosts(sd);
    await assert.rejects(cloudMap(sd), (err) => {
      assert.match(String(err.code ?? err.message), /ENOTFOUND|EAI_AGAIN|getaddrinfo/);
      return true;
    });
    assert.ok(hosts.includes("CreateHttpNamespaceCommand 127.0.0.1"), hosts.join("\n"));
    assert.ok(hosts.includes("DiscoverInstancesCommand data-127.0.0.1"), hosts.join("\n"));
  } finally {
    delete process.env.AWS_DISABLE_HOST_PREFIX_INJECTION;
  }
});

test("http://mapmesh.internal:PORT with names resolved by mapmesh's DNS needs no host-prefix option", async () => {
  // The agent's lookup stands in for a system resolver that sends
  // mapmesh.internal to mapmesh (netns.test.mjs does it with the system's).
  const requestHandler = { httpAgent: new Agent({ keepAlive: true, lookup: lookupThrough(server.dnsAddr) }) };
  const endpoint = `http://mapmesh.internal:${server.port}`;
  const sd = new ServiceDiscoveryClient({ ...opts, endpoint, requestHandler });
  const hosts = recordHosts(sd);
  const got = await cloudMap(sd);
  assert.deepEqual(got.instances, ["web-1 10.0.0.1:8080"]);
  assert.ok(hosts.includes("DiscoverInstancesCommand data-mapmesh.internal"), hosts.join("\n"));
  assert.ok(hosts.includes("DiscoverInstancesRevisionCommand data-mapmesh.internal"), hosts.join("\n"));
  const am = new AppMeshClient({ ...opts, endpoint, requestHandler });
  assert.deepEqual((await appMesh(am)).versions, [1, 2]);
  requestHandler.httpAgent.destroy();
});

// The AWS SDK for JavaScript v3 with no client option at all, on the
// endpoint forms that rely on name resolution: run inside test/netns/run
// (make test-endpoints), which sets up /etc/hosts, /etc/resolv.conf and
// /etc/nsswitch.conf in namespaces of their own and serves mapmesh on
// 127.0.0.1:9711 with DNS on 127.0.0.1:53. Elsewhere these tests skip.

import { test } from "node:test";
import assert from "node:assert/strict";

import { ServiceDiscoveryClient } from "@aws-sdk/client-servicediscovery";
import { AppMeshClient } from "@aws-sdk/client-app-mesh";

import { appMesh, cloudMap, credentials, recordHosts, region } from "./harness.mjs";

const inNetns = process.env.MAPMESH_NETNS === "1";
const port = process.env.MAPMESH_NETNS_PORT;
const skip = inNetns ? false : "needs test/netns/run (make test-endpoints)";

const forms = [
  { host: "localhost", how: "/etc/hosts maps data-localhost" },
  { host: "mapmesh.internal", how: "mapmesh's DNS answers both names (--dns-self-name)" },
  {
    host: "mapmesh.localhost", how: "nss-myhostname maps *.localhost to loopback",
    skip: process.env.MAPMESH_NETNS_MYHOSTNAME === "1" ? false : "no nss-myhostname in this namespace",
  },
];

for (const f of forms) {
  test(`http://${f.host}:PORT with no client option (${f.how})`, { skip: skip || f.skip }, async () => {
    const endpoint = `http://${f.host}:${port}`;
    const sd = new ServiceDiscoveryClient({ region, credentials, endpoint, maxAttempts: 1 });
    const hosts = recordHosts(sd);
    const got = await cloudMap(sd);
    assert.deepEqual(got.instances, ["web-1 10.0.0.1:8080"]);
    assert.ok(hosts.includes(`DiscoverInstancesCommand data-${f.host}`), hosts.join("\n"));
    assert.ok(hosts.includes(`DiscoverInstancesRevisionCommand data-${f.host}`), hosts.join("\n"));
    const am = new AppMeshClient({ region, credentials, endpoint, maxAttempts: 1 });
    assert.deepEqual((await appMesh(am)).versions, [1, 2]);
  });
}

test("control: http://127.0.0.1:PORT with no client option fails at DiscoverInstances", { skip }, async () => {
  const sd = new ServiceDiscoveryClient({ region, credentials, endpoint: `http://127.0.0.1:${port}`, maxAttempts: 1 });
  const hosts = recordHosts(sd);
  await assert.rejects(cloudMap(sd));
  assert.equal(hosts.at(-1), "DiscoverInstancesCommand data-127.0.0.1");
});

// A real mapmesh for the JavaScript tests, and the calls every endpoint
// form is checked with.
//
// The binary is $MAPMESH_BIN (make test-js sets it), else ../../bin/mapmesh.
// startServer runs it on free 127.0.0.1 ports (API and DNS) with a
// temporary data directory and --dns-self-name mapmesh.internal, and stops
// it when the test file ends.

import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, existsSync, readFileSync } from "node:fs";
import { Resolver } from "node:dns";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { after } from "node:test";

import {
  CreateHttpNamespaceCommand,
  CreateServiceCommand,
  DiscoverInstancesCommand,
  DiscoverInstancesRevisionCommand,
  GetOperationCommand,
  RegisterInstanceCommand,
} from "@aws-sdk/client-servicediscovery";
import {
  CreateMeshCommand,
  CreateVirtualNodeCommand,
  DescribeVirtualNodeCommand,
  UpdateVirtualNodeCommand,
} from "@aws-sdk/client-app-mesh";

const here = fileURLToPath(new URL(".", import.meta.url));

// The fake identity every client signs with (mapmesh runs with --auth
// none and acts for its default account).
export const credentials = { accessKeyId: "AKIDMAPMESHJS", secretAccessKey: "mapmesh-js-secret" };
export const region = "us-east-1";

// Clients read nothing from the caller's AWS settings.
for (const k of Object.keys(process.env)) {
  if (k.startsWith("AWS_")) delete process.env[k];
}
process.env.AWS_CONFIG_FILE = "/dev/null";
process.env.AWS_SHARED_CREDENTIALS_FILE = "/dev/null";

function binary() {
  const bin = process.env.MAPMESH_BIN || resolve(here, "../../bin/mapmesh");
  if (!existsSync(bin)) {
    throw new Error(`no mapmesh binary at ${bin}: run make build, or set MAPMESH_BIN`);
  }
  return bin;
}

// startServer starts a mapmesh and returns { url, port, dnsAddr, log() }.
export async function startServer(...extraArgs) {
  const dir = mkdtempSync(join(tmpdir(), "mapmesh-js-"));
  const logPath = join(dir, "mapmesh.log");
  const args = ["--api-addr", "127.0.0.1:0", "--dns-addr", "127.0.0.1:0", "--xds-addr", "",
    "--dns-self-name", "mapmesh.internal", "--data-dir", join(dir, "data"), ...extraArgs];
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("MAPMESH_")));
  let output = "";
  const proc = spawn(binary(), args, { env, stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout.on("data", (b) => { output += b; });
  proc.stderr.on("data", (b) => { output += b; });
  let exited = null;
  proc.on("exit", (code) => { exited = code; });
  after(async () => {
    if (exited === null) {
      const done = new Promise((r) => proc.on("exit", r));
      proc.kill("SIGTERM");
      await done;
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const api = /msg="mapmesh listening".*\bapi_addr=(\S+)/.exec(output);
    const dnsAddr = /msg="DNS listening".*\bdns_addr=(\S+)/.exec(output);
    if (api && dnsAddr) {
      const port = Number(api[1].split(":").pop());
      return { url: `http://${api[1]}`, port, dnsAddr: dnsAddr[1], log: () => output };
    }
    if (exited !== null) throw new Error(`mapmesh exited with status ${exited}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`mapmesh did not start in time:\n${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

let counter = 0;
// unique returns a name no other call in this process returns.
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${counter}`;
}

// recordHosts makes client note the host of every request it sends (after
// the SDK has applied any host prefix) in the returned array.
export function recordHosts(client) {
  const hosts = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      hosts.push(`${context.commandName} ${args.request.hostname}`);
      return next(args);
    },
    { step: "finalizeRequest", name: "mapmeshRecordHost" },
  );
  return hosts;
}

// lookupThrough returns a lookup function (for http.Agent) that resolves
// names with the DNS server at addr (host:port), as a system resolver that
// forwards them to mapmesh does.
export function lookupThrough(addr) {
  const r = new Resolver();
  r.setServers([addr]);
  return (hostname, options, cb) => {
    if (typeof options === "function") [options, cb] = [{}, options];
    r.resolve4(hostname, (err, addrs) => {
      if (err) return cb(err);
      if (options.all) return cb(null, addrs.map((address) => ({ address, family: 4 })));
      return cb(null, addrs[0], 4);
    });
  };
}

// cloudMap creates an HTTP namespace, a service and an instance, then
// discovers it; it returns what DiscoverInstances and
// DiscoverInstancesRevision answered.
export async function cloudMap(sd) {
  const ns = unique("js");
  const op = await sd.send(new CreateHttpNamespaceCommand({ Name: ns }));
  const got = await sd.send(new GetOperationCommand({ OperationId: op.OperationId }));
  const svc = await sd.send(new CreateServiceCommand({ Name: "web", NamespaceId: got.Operation.Targets.NAMESPACE }));
  await sd.send(new RegisterInstanceCommand({
    ServiceId: svc.Service.Id, InstanceId: "web-1",
    Attributes: { AWS_INSTANCE_IPV4: "10.0.0.1", AWS_INSTANCE_PORT: "8080", stage: "prod" },
  }));
  const found = await sd.send(new DiscoverInstancesCommand({ NamespaceName: ns, ServiceName: "web", QueryParameters: { stage: "prod" } }));
  const rev = await sd.send(new DiscoverInstancesRevisionCommand({ NamespaceName: ns, ServiceName: "web" }));
  return {
    instances: found.Instances.map((i) => `${i.InstanceId} ${i.Attributes.AWS_INSTANCE_IPV4}:${i.Attributes.AWS_INSTANCE_PORT}`),
    revision: rev.InstancesRevision,
  };
}

// appMesh creates a mesh and a virtual node, updates the node, and returns
// the versions DescribeVirtualNode reported before and after.
export async function appMesh(am) {
  const mesh = unique("js");
  await am.send(new CreateMeshCommand({ meshName: mesh }));
  const spec = (port) => ({
    listeners: [{ portMapping: { port, protocol: "http" } }],
    serviceDiscovery: { dns: { hostname: "web.js.local" } },
  });
  await am.send(new CreateVirtualNodeCommand({ meshName: mesh, virtualNodeName: "web", spec: spec(8080) }));
  const v1 = await am.send(new DescribeVirtualNodeCommand({ meshName: mesh, virtualNodeName: "web" }));
  await am.send(new UpdateVirtualNodeCommand({ meshName: mesh, virtualNodeName: "web", spec: spec(9090) }));
  const v2 = await am.send(new DescribeVirtualNodeCommand({ meshName: mesh, virtualNodeName: "web" }));
  return {
    versions: [v1.virtualNode.metadata.version, v2.virtualNode.metadata.version],
    port: v2.virtualNode.spec.listeners[0].portMapping.port,
    arn: v2.virtualNode.metadata.arn,
  };
}

export const packageVersions = () => Object.fromEntries(
  ["@aws-sdk/client-servicediscovery", "@aws-sdk/client-app-mesh"].map((p) => [
    p, JSON.parse(readFileSync(resolve(here, "node_modules", p, "package.json"), "utf8")).version]),
);

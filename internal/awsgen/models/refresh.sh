#!/usr/bin/env bash
# Refreshes the vendored botocore models from the machine's botocore, with the
# documentation stripped (the generator needs only names, shapes and
# constraints). Run from this directory, then `go generate ./...` at the root.
set -euo pipefail
python3 - <<'PY'
import gzip, json, os
import botocore
data = os.path.join(os.path.dirname(botocore.__file__), "data")
def load(service, version):
    base = os.path.join(data, service, version, "service-2.json")
    return json.load(gzip.open(base + ".gz")) if os.path.exists(base + ".gz") else json.load(open(base))
def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k != "documentation"}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
for service, version in [("servicediscovery", "2017-03-14"), ("appmesh", "2018-10-01"), ("appmesh", "2019-01-25")]:
    with open(f"{service}-{version}.json", "w") as f:
        json.dump(strip(load(service, version)), f, indent=1)
        f.write("\n")
    print("wrote", f"{service}-{version}.json", "from botocore", botocore.__version__)
PY

//go:build e2e

package terraform

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	am "github.com/aws/aws-sdk-go-v2/service/appmesh"
	amtypes "github.com/aws/aws-sdk-go-v2/service/appmesh/types"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
)

// cmdTimeout bounds each terraform command.
const cmdTimeout = 5 * time.Minute

// mainTF is the configuration: a Cloud Map namespace, service and instance,
// and a mesh whose virtual node discovers that service, behind a router, a
// route and a virtual service. %[1]s is the provider block.
const mainTF = `%[1]s

resource "aws_service_discovery_http_namespace" "ns" {
  name        = "tf-e2e"
  description = "terraform e2e"
  tags        = { owner = "terraform" }
}

resource "aws_service_discovery_service" "svc" {
  name         = "backend"
  namespace_id = aws_service_discovery_http_namespace.ns.id
  description  = "backend service"
}

resource "aws_service_discovery_instance" "i" {
  instance_id = "backend-1"
  service_id  = aws_service_discovery_service.svc.id
  attributes = {
    AWS_INSTANCE_IPV4 = "10.0.0.1"
    AWS_INSTANCE_PORT = "8080"
    version           = "v1"
  }
}

resource "aws_appmesh_mesh" "m" {
  name = "tf-e2e"
  spec {
    egress_filter {
      type = "DROP_ALL"
    }
  }
}

resource "aws_appmesh_virtual_node" "n" {
  name      = "backend-v1"
  mesh_name = aws_appmesh_mesh.m.name
  spec {
    listener {
      port_mapping {
        port     = 8080
        protocol = "http"
      }
    }
    service_discovery {
      aws_cloud_map {
        namespace_name = aws_service_discovery_http_namespace.ns.name
        service_name   = aws_service_discovery_service.svc.name
        attributes     = { version = "v1" }
      }
    }
  }
}

resource "aws_appmesh_virtual_router" "r" {
  name      = "backend-router"
  mesh_name = aws_appmesh_mesh.m.name
  spec {
    listener {
      port_mapping {
        port     = 8080
        protocol = "http"
      }
    }
  }
}

resource "aws_appmesh_route" "rt" {
  name                = "backend-route"
  mesh_name           = aws_appmesh_mesh.m.name
  virtual_router_name = aws_appmesh_virtual_router.r.name
  spec {
    http_route {
      match {
        prefix = "/"
      }
      action {
        weighted_target {
          virtual_node = aws_appmesh_virtual_node.n.name
          weight       = 100
        }
      }
    }
  }
}

output "namespace_id" {
  value = aws_service_discovery_http_namespace.ns.id
}

output "service_id" {
  value = aws_service_discovery_service.svc.id
}

resource "aws_appmesh_virtual_service" "vs" {
  name      = "backend.tf-e2e.local"
  mesh_name = aws_appmesh_mesh.m.name
  spec {
    provider {
      virtual_router {
        virtual_router_name = aws_appmesh_virtual_router.r.name
      }
    }
  }
}
`

// importTF is the configuration the import step imports into a fresh state:
// the mesh and the Cloud Map service as mainTF declares them. %[2]s is the
// namespace's ID.
const importTF = `%[1]s

resource "aws_appmesh_mesh" "m" {
  name = "tf-e2e"
  spec {
    egress_filter {
      type = "DROP_ALL"
    }
  }
}

resource "aws_service_discovery_service" "svc" {
  name         = "backend"
  namespace_id = "%[2]s"
  description  = "backend service"
}
`

const providerTF = `terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    servicediscovery = "%[1]s"
    appmesh          = "%[1]s"
  }
}`

const cliConfig = `provider_installation {
  filesystem_mirror {
    path    = %q
    include = ["registry.terraform.io/hashicorp/*"]
  }
  direct {
    exclude = ["registry.terraform.io/hashicorp/*"]
  }
}
`

// TestTerraform: init from the mirror, apply, an empty plan, the resources
// as the API reports them, terraform import of the mesh and the service into
// a fresh state with an empty plan after it, and destroy leaving nothing.
func TestTerraform(t *testing.T) {
	if testing.Short() {
		t.Skip("runs terraform and a real mapmesh process")
	}
	tfBin, err := exec.LookPath("terraform")
	if err != nil {
		t.Skip("terraform is not on PATH; this test needs the Terraform CLI")
	}
	mirror := os.Getenv("TF_MIRROR")
	if mirror == "" {
		mirror = "/opt/tf-plugins"
	}
	if _, err := os.Stat(filepath.Join(mirror, "registry.terraform.io/hashicorp/aws")); err != nil {
		t.Skipf("no hashicorp/aws provider in the filesystem mirror %s (set TF_MIRROR): %v", mirror, err)
	}

	url := start(t, binary(t), t.TempDir())
	tmp := t.TempDir()
	cliFile := filepath.Join(tmp, "cli.tfrc")
	if err := os.WriteFile(cliFile, []byte(fmt.Sprintf(cliConfig, mirror)), 0o600); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(tmp, "plugin-cache")
	if err := os.Mkdir(cache, 0o700); err != nil {
		t.Fatal(err)
	}
	provider := fmt.Sprintf(providerTF, url)
	tf := func(dir string, args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
		defer cancel()
		flags := []string{"-no-color"}
		switch args[0] {
		case "init", "plan", "apply", "destroy", "import":
			flags = append(flags, "-input=false")
		}
		args = append(args[:1:1], append(flags, args[1:]...)...)
		cmd := exec.CommandContext(ctx, tfBin, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(),
			"TF_CLI_CONFIG_FILE="+cliFile,
			"TF_IN_AUTOMATION=1",
			"TF_DATA_DIR="+filepath.Join(dir, ".terraform"),
			"TF_PLUGIN_CACHE_DIR="+cache,
			"CHECKPOINT_DISABLE=1",
			"AWS_EC2_METADATA_DISABLED=true",
		)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		begin := time.Now()
		err := cmd.Run()
		t.Logf("terraform %s: %v (%s)", strings.Join(args, " "), err, time.Since(begin).Round(time.Millisecond))
		if ctx.Err() != nil {
			t.Fatalf("terraform %s: timed out after %v\n%s", strings.Join(args, " "), cmdTimeout, out.String())
		}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return out.String(), ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("terraform %s: %v", strings.Join(args, " "), err)
		}
		return out.String(), 0
	}
	must := func(dir string, args ...string) string {
		t.Helper()
		out, code := tf(dir, args...)
		if code != 0 {
			t.Fatalf("terraform %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		return out
	}
	noChanges := func(dir string) {
		t.Helper()
		if out, code := tf(dir, "plan", "-detailed-exitcode"); code != 0 {
			t.Fatalf("terraform plan -detailed-exitcode: exit %d; want 0 (no changes)\n%s", code, out)
		}
	}

	dir := filepath.Join(tmp, "main")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(fmt.Sprintf(mainTF, provider)), 0o600); err != nil {
		t.Fatal(err)
	}
	must(dir, "init")
	must(dir, "apply", "-auto-approve")
	noChanges(dir)

	// What terraform created, as the AWS API reports it.
	ctx := context.Background()
	creds := credentials.NewStaticCredentialsProvider("test", "test", "")
	sdc := sd.New(sd.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds})
	amc := am.New(am.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Credentials: creds})

	nsID := must(dir, "output", "-raw", "namespace_id")
	svcID := must(dir, "output", "-raw", "service_id")
	ns, err := sdc.GetNamespace(ctx, &sd.GetNamespaceInput{Id: &nsID})
	if err != nil {
		t.Fatalf("GetNamespace %s: %v", nsID, err)
	}
	if aws.ToString(ns.Namespace.Name) != "tf-e2e" || ns.Namespace.Type != "HTTP" || aws.ToString(ns.Namespace.Description) != "terraform e2e" {
		t.Errorf("namespace: name %q type %q description %q; want tf-e2e HTTP \"terraform e2e\"",
			aws.ToString(ns.Namespace.Name), ns.Namespace.Type, aws.ToString(ns.Namespace.Description))
	}
	svc, err := sdc.GetService(ctx, &sd.GetServiceInput{Id: &svcID})
	if err != nil {
		t.Fatalf("GetService %s: %v", svcID, err)
	}
	if aws.ToString(svc.Service.Name) != "backend" || aws.ToString(svc.Service.NamespaceId) != nsID {
		t.Errorf("service: name %q namespace %q; want backend in %s", aws.ToString(svc.Service.Name), aws.ToString(svc.Service.NamespaceId), nsID)
	}
	inst, err := sdc.GetInstance(ctx, &sd.GetInstanceInput{ServiceId: &svcID, InstanceId: aws.String("backend-1")})
	if err != nil {
		t.Fatalf("GetInstance backend-1: %v", err)
	}
	if a := inst.Instance.Attributes; a["AWS_INSTANCE_IPV4"] != "10.0.0.1" || a["AWS_INSTANCE_PORT"] != "8080" || a["version"] != "v1" {
		t.Errorf("instance attributes %v; want AWS_INSTANCE_IPV4=10.0.0.1 AWS_INSTANCE_PORT=8080 version=v1", a)
	}

	mesh := aws.String("tf-e2e")
	m, err := amc.DescribeMesh(ctx, &am.DescribeMeshInput{MeshName: mesh})
	if err != nil {
		t.Fatalf("DescribeMesh: %v", err)
	}
	if m.Mesh.Spec.EgressFilter == nil || m.Mesh.Spec.EgressFilter.Type != amtypes.EgressFilterTypeDropAll {
		t.Errorf("mesh egress filter %+v; want DROP_ALL", m.Mesh.Spec.EgressFilter)
	}
	vn, err := amc.DescribeVirtualNode(ctx, &am.DescribeVirtualNodeInput{MeshName: mesh, VirtualNodeName: aws.String("backend-v1")})
	if err != nil {
		t.Fatalf("DescribeVirtualNode: %v", err)
	}
	if cm, ok := vn.VirtualNode.Spec.ServiceDiscovery.(*amtypes.ServiceDiscoveryMemberAwsCloudMap); !ok ||
		aws.ToString(cm.Value.NamespaceName) != "tf-e2e" || aws.ToString(cm.Value.ServiceName) != "backend" ||
		len(cm.Value.Attributes) != 1 || aws.ToString(cm.Value.Attributes[0].Key) != "version" || aws.ToString(cm.Value.Attributes[0].Value) != "v1" {
		t.Errorf("virtual node service discovery %#v; want aws_cloud_map tf-e2e/backend version=v1", vn.VirtualNode.Spec.ServiceDiscovery)
	}
	if l := vn.VirtualNode.Spec.Listeners; len(l) != 1 || aws.ToInt32(l[0].PortMapping.Port) != 8080 || l[0].PortMapping.Protocol != amtypes.PortProtocolHttp {
		t.Errorf("virtual node listeners %+v; want one, http:8080", l)
	}
	vr, err := amc.DescribeVirtualRouter(ctx, &am.DescribeVirtualRouterInput{MeshName: mesh, VirtualRouterName: aws.String("backend-router")})
	if err != nil {
		t.Fatalf("DescribeVirtualRouter: %v", err)
	}
	if l := vr.VirtualRouter.Spec.Listeners; len(l) != 1 || aws.ToInt32(l[0].PortMapping.Port) != 8080 {
		t.Errorf("virtual router listeners %+v; want one, http:8080", l)
	}
	rt, err := amc.DescribeRoute(ctx, &am.DescribeRouteInput{MeshName: mesh, VirtualRouterName: aws.String("backend-router"), RouteName: aws.String("backend-route")})
	if err != nil {
		t.Fatalf("DescribeRoute: %v", err)
	}
	if h := rt.Route.Spec.HttpRoute; h == nil || aws.ToString(h.Match.Prefix) != "/" || len(h.Action.WeightedTargets) != 1 ||
		aws.ToString(h.Action.WeightedTargets[0].VirtualNode) != "backend-v1" || h.Action.WeightedTargets[0].Weight != 100 {
		t.Errorf("route http_route %+v; want prefix / to backend-v1 weight 100", h)
	}
	vs, err := amc.DescribeVirtualService(ctx, &am.DescribeVirtualServiceInput{MeshName: mesh, VirtualServiceName: aws.String("backend.tf-e2e.local")})
	if err != nil {
		t.Fatalf("DescribeVirtualService: %v", err)
	}
	if p, ok := vs.VirtualService.Spec.Provider.(*amtypes.VirtualServiceProviderMemberVirtualRouter); !ok || aws.ToString(p.Value.VirtualRouterName) != "backend-router" {
		t.Errorf("virtual service provider %#v; want virtual router backend-router", vs.VirtualService.Spec.Provider)
	}

	// terraform import into a fresh state: the mesh by name, the service by
	// ID (the provider's documented formats); the plan after it is empty.
	idir := filepath.Join(tmp, "import")
	if err := os.Mkdir(idir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(idir, "main.tf"), []byte(fmt.Sprintf(importTF, provider, nsID)), 0o600); err != nil {
		t.Fatal(err)
	}
	must(idir, "init")
	must(idir, "import", "aws_appmesh_mesh.m", "tf-e2e")
	must(idir, "import", "aws_service_discovery_service.svc", svcID)
	noChanges(idir)

	must(dir, "destroy", "-auto-approve")
	if _, err := sdc.GetNamespace(ctx, &sd.GetNamespaceInput{Id: &nsID}); err == nil {
		t.Errorf("namespace %s still exists after destroy", nsID)
	}
	if _, err := sdc.GetService(ctx, &sd.GetServiceInput{Id: &svcID}); err == nil {
		t.Errorf("service %s still exists after destroy", svcID)
	}
	meshes, err := amc.ListMeshes(ctx, &am.ListMeshesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(meshes.Meshes) != 0 {
		t.Errorf("meshes after destroy: %+v; want none", meshes.Meshes)
	}
	nss, err := sdc.ListNamespaces(ctx, &sd.ListNamespacesInput{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nss.Namespaces) != 0 {
		t.Errorf("namespaces after destroy: %d; want none", len(nss.Namespaces))
	}
}

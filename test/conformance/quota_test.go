package conformance

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
	"github.com/mapmesh/mapmesh/internal/server"
)

// smallQuotas make ResourceLimitExceeded quick to reach.
var smallQuotas = cloudmap.Quotas{NamespacesPerRegion: 2, ServicesPerNamespace: 2, InstancesPerService: 2, InstancesPerNamespace: 3}

// TestQuotas: the namespace, service and instance quotas apply per account
// and region, and give ResourceLimitExceeded.
func TestQuotas(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{Quotas: smallQuotas})

	t.Run("namespaces per region", func(t *testing.T) {
		t.Parallel()
		account := newAccount()
		c := h.client(account, defaultRegion)
		first, _ := createHTTPNamespace(t, c, uniq("q"))
		createPrivateNamespace(t, c, uniq("q"), "vpc-q")
		_, err := c.CreateHttpNamespace(bg, &sd.CreateHttpNamespaceInput{Name: aws.String(uniq("q"))})
		apiError(t, err, "ResourceLimitExceeded")
		_, err = c.CreatePrivateDnsNamespace(bg, &sd.CreatePrivateDnsNamespaceInput{Name: aws.String(uniq("q")), Vpc: aws.String("vpc-q")})
		apiError(t, err, "ResourceLimitExceeded")
		_, err = c.CreatePublicDnsNamespace(bg, &sd.CreatePublicDnsNamespaceInput{Name: aws.String(uniqDNS("q"))})
		apiError(t, err, "ResourceLimitExceeded")
		if n := countNamespaces(t, c); n != 2 {
			t.Errorf("namespaces = %d; want 2", n)
		}
		// Another region and another account have quotas of their own.
		createHTTPNamespace(t, h.client(account, "eu-west-1"), uniq("q"))
		createHTTPNamespace(t, h.account(), uniq("q"))
		// Deleting one makes room.
		if _, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(first)}); err != nil {
			t.Fatal(err)
		}
		createHTTPNamespace(t, c, uniq("q"))
	})
	t.Run("services per namespace", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		ns1, _ := newNamespace(t, c, httpNS)
		ns2, _ := newNamespace(t, c, httpNS)
		httpService(t, c, ns1)
		httpService(t, c, ns1)
		_, err := c.CreateService(bg, &sd.CreateServiceInput{Name: aws.String(uniq("q")), NamespaceId: aws.String(ns1)})
		apiError(t, err, "ResourceLimitExceeded")
		httpService(t, c, ns2)
	})
	t.Run("instances per service", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		nsID, _ := newNamespace(t, c, httpNS)
		s := httpService(t, c, nsID)
		register(t, c, *s.Id, "a", nil)
		register(t, c, *s.Id, "b", nil)
		_, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("c"), Attributes: map[string]string{}})
		apiError(t, err, "ResourceLimitExceeded")
		// Re-registering an existing instance adds nothing.
		register(t, c, *s.Id, "b", map[string]string{"v": "2"})
	})
	t.Run("instances per namespace", func(t *testing.T) {
		t.Parallel()
		c := h.account()
		nsID, _ := newNamespace(t, c, httpNS)
		s1, s2 := httpService(t, c, nsID), httpService(t, c, nsID)
		register(t, c, *s1.Id, "a", nil)
		register(t, c, *s1.Id, "b", nil)
		register(t, c, *s2.Id, "c", nil)
		_, err := c.RegisterInstance(bg, &sd.RegisterInstanceInput{ServiceId: s2.Id, InstanceId: aws.String("d"), Attributes: map[string]string{}})
		apiError(t, err, "ResourceLimitExceeded")
	})
}

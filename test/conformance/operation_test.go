package conformance

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	sd "github.com/aws/aws-sdk-go-v2/service/servicediscovery"
	"github.com/aws/aws-sdk-go-v2/service/servicediscovery/types"

	"github.com/mapmesh/mapmesh/internal/server"
)

// TestOperations: every asynchronous call leaves an operation that
// GetOperation finds the moment the call returns, SUCCESS, with the right
// Type and Targets; ListOperations lists them with their status.
func TestOperations(t *testing.T) {
	t.Parallel()
	h := start(t, server.Config{})
	account := newAccount()
	c := h.client(account, defaultRegion)
	type want struct {
		typ     types.OperationType
		targets map[string]string
	}
	got := map[string]want{}
	before := time.Now()

	nsID, op := createPublicNamespace(t, c, uniqDNS("ops"))
	got[op] = want{types.OperationTypeCreateNamespace, map[string]string{"NAMESPACE": nsID}}
	up, err := c.UpdatePublicDnsNamespace(bg, &sd.UpdatePublicDnsNamespaceInput{Id: aws.String(nsID), Namespace: &types.PublicDnsNamespaceChange{Description: aws.String("x")}})
	if err != nil {
		t.Fatal(err)
	}
	got[*up.OperationId] = want{types.OperationTypeUpdateNamespace, map[string]string{"NAMESPACE": nsID}}
	s := dnsService(t, c, nsID, "", types.RecordTypeA)
	us, err := c.UpdateService(bg, &sd.UpdateServiceInput{Id: s.Id, Service: &types.ServiceChange{DnsConfig: &types.DnsConfigChange{DnsRecords: records(1, types.RecordTypeA)}}})
	if err != nil {
		t.Fatal(err)
	}
	got[*us.OperationId] = want{types.OperationTypeUpdateService, map[string]string{"SERVICE": *s.Id}}
	got[register(t, c, *s.Id, "i-1", ipv4(1))] = want{types.OperationTypeRegisterInstance, map[string]string{"INSTANCE": "i-1", "SERVICE": *s.Id}}
	dr, err := c.DeregisterInstance(bg, &sd.DeregisterInstanceInput{ServiceId: s.Id, InstanceId: aws.String("i-1")})
	if err != nil {
		t.Fatal(err)
	}
	got[*dr.OperationId] = want{types.OperationTypeDeregisterInstance, map[string]string{"INSTANCE": "i-1", "SERVICE": *s.Id}}
	if _, err := c.DeleteService(bg, &sd.DeleteServiceInput{Id: s.Id}); err != nil {
		t.Fatal(err)
	}
	dn, err := c.DeleteNamespace(bg, &sd.DeleteNamespaceInput{Id: aws.String(nsID)})
	if err != nil {
		t.Fatal(err)
	}
	got[*dn.OperationId] = want{types.OperationTypeDeleteNamespace, map[string]string{"NAMESPACE": nsID}}
	after := time.Now()

	for id, w := range got {
		op := successfulOperation(t, c, id)
		if !operationIDRE.MatchString(id) {
			t.Errorf("operation ID %q; want 32 base32 characters, a dash and a base-36 time", id)
		}
		if op.Type != w.typ {
			t.Errorf("operation %s Type = %s; want %s", id, op.Type, w.typ)
		}
		// Instance operations may name the namespace too; nothing else.
		targets := op.Targets
		if w.typ == types.OperationTypeRegisterInstance || w.typ == types.OperationTypeDeregisterInstance {
			if ns, ok := targets["NAMESPACE"]; ok && ns != nsID {
				t.Errorf("operation %s Targets[NAMESPACE] = %q; want %q", id, ns, nsID)
			}
			targets = map[string]string{"INSTANCE": targets["INSTANCE"], "SERVICE": targets["SERVICE"]}
		}
		if d := diff(w.targets, targets); d != "" {
			t.Errorf("operation %s (%s) Targets (-want +got):\n%s", id, w.typ, d)
		}
		if aws.ToString(op.OwnerAccount) != account {
			t.Errorf("operation %s OwnerAccount = %q; want %q", id, aws.ToString(op.OwnerAccount), account)
		}
		checkNear(t, "Operation.CreateDate", op.CreateDate, before, after)
		checkNear(t, "Operation.UpdateDate", op.UpdateDate, before, after)
		if op.UpdateDate.Before(*op.CreateDate) {
			t.Errorf("operation %s UpdateDate %v before CreateDate %v", id, op.UpdateDate, op.CreateDate)
		}
		// OwnerAccount naming the caller's own account finds it too.
		if _, err := c.GetOperation(bg, &sd.GetOperationInput{OperationId: aws.String(id), OwnerAccount: aws.String(account)}); err != nil {
			t.Errorf("GetOperation(%s, OwnerAccount %s) = %v", id, account, err)
		}
	}

	listed := map[string]types.OperationStatus{}
	for _, op := range listOperations(t, c, nil) {
		listed[*op.Id] = op.Status
	}
	wantListed := map[string]types.OperationStatus{}
	for id := range got {
		wantListed[id] = types.OperationStatusSuccess
	}
	if d := diff(wantListed, listed); d != "" {
		t.Errorf("ListOperations (-want +got):\n%s", d)
	}

	_, err = c.GetOperation(bg, &sd.GetOperationInput{OperationId: aws.String("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-k9302yzd")})
	apiError(t, err, "OperationNotFound")
}

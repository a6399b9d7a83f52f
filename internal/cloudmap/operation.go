package cloudmap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Operation types, statuses and target kinds, as the model names them.
const (
	opCreateNamespace    = "CREATE_NAMESPACE"
	opDeleteNamespace    = "DELETE_NAMESPACE"
	opUpdateNamespace    = "UPDATE_NAMESPACE"
	opUpdateService      = "UPDATE_SERVICE"
	opRegisterInstance   = "REGISTER_INSTANCE"
	opDeregisterInstance = "DEREGISTER_INSTANCE"

	statusSubmitted = "SUBMITTED"
	statusPending   = "PENDING"
	statusSuccess   = "SUCCESS"
	statusFail      = "FAIL"

	targetNamespace = "NAMESPACE"
	targetService   = "SERVICE"
	targetInstance  = "INSTANCE"
)

// opRecord is an asynchronous operation as stored. mapmesh applies the change
// of an operation in the same transaction that records it, so an operation
// is SUCCESS (or FAIL, with nothing applied) as soon as the call returns.
type opRecord struct {
	V            int               `json:"v"`
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	Status       string            `json:"status"`
	ErrorCode    string            `json:"errorCode,omitempty"`
	ErrorMessage string            `json:"errorMessage,omitempty"`
	CreateDate   int64             `json:"createDate"`
	UpdateDate   int64             `json:"updateDate"`
	Targets      map[string]string `json:"targets"`
	// Idem and Hash record the idempotency token the operation was
	// requested with (the key tail idemKey gives) and the request's hash.
	Idem string `json:"idem,omitempty"`
	Hash string `json:"hash,omitempty"`
}

// opToken is the idempotency token of a request: its key tail (idemKey)
// and the request hash. The zero value is "no token".
type opToken struct{ key, hash string }

func newOpToken(op, scope, token, hash string) opToken {
	if token == "" {
		return opToken{}
	}
	return opToken{key: idemKey(op, scope, token), hash: hash}
}

type operation struct {
	rec    opRecord
	modRev int64
}

// idemRecord remembers what a request with an idempotency token did. The
// view builds them from operation records (asynchronous calls) and from
// idem keys (CreateService).
type idemRecord struct {
	V int `json:"v"`
	// Hash identifies the request (everything but the token).
	Hash string `json:"hash"`
	// Result is the operation ID of an asynchronous call, or the service ID
	// of CreateService.
	Result string `json:"result"`
	// At is when the request was made (epoch milliseconds); the record
	// expires with the operations (Config.OperationRetention).
	At int64 `json:"at,omitempty"`
}

// requestHash identifies a request for idempotency checks: the SHA-256 of
// its JSON form with the token member cleared by the caller.
func requestHash(in any) string {
	b, _ := json.Marshal(in)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// idemKey is the key tail of an idempotency record.
func idemKey(op, scope, token string) string { return op + "/" + scope + "/" + token }

// checkToken looks up an idempotency token. It returns the earlier record
// when the same request was made with it before, DuplicateRequest when the
// token was used for a different request, and nil for a new token.
func (p *partition) checkToken(op, scope, token, hash string) (*idemRecord, error) {
	if token == "" {
		return nil, nil
	}
	r := p.idem[idemKey(op, scope, token)]
	if r == nil {
		return nil, nil
	}
	if r.Hash != hash {
		return nil, duplicateRequest(r.Result, "The request token "+token+" was already used for a different request")
	}
	return r, nil
}

// lockToken makes the token unique in the store: the transaction fails if
// another request with the same token committed first, and its retry then
// finds that request's operation. Namespace calls and RegisterInstance take
// the lock: without it, another request with the same token (another
// instance) sent to a process that has not yet seen the first one (another
// server of a cluster, or at the same time) would be registered, and the
// first request's retries answered DuplicateRequest. The sweep deletes the
// lock with its operation.
func (p *partition) lockToken(t *txn, tok opToken) {
	if tok.key == "" {
		return
	}
	k := p.key.key(kindIdempotency, tok.key)
	t.cond(k, 0)
	t.touch(k)
}

// newOperation records an operation in t and returns its ID. IDs look like
// AWS's: 32 base32 characters that are the same for every operation on one
// target, a dash, and the creation time in epoch milliseconds in base 36.
func (p *partition) newOperation(t *txn, now int64, typ string, targets map[string]string, tok opToken, status, errCode, errMsg string) string {
	target := targets[targetInstance] + "/" + targets[targetService] + "/" + targets[targetNamespace]
	prefix := hashID(32, p.key.account, p.key.region, target)
	id := ""
	for {
		id = prefix + "-" + strconv.FormatInt(now, 36)
		if p.ops[id] == nil {
			break
		}
		now++ // two operations on one target in one millisecond
	}
	rec := &opRecord{V: 1, ID: id, Type: typ, Status: status, ErrorCode: errCode, ErrorMessage: errMsg,
		CreateDate: now, UpdateDate: now, Targets: targets, Idem: tok.key, Hash: tok.hash}
	k := p.key.key(kindOperation, opKeyTail(now, id))
	t.cond(k, 0)
	t.put(k, rec)
	return id
}

// opKeyTail orders operation keys by creation time, so that new operations
// are appended at the end of the store's key space (a commit then touches
// one page for them instead of one per operation).
func opKeyTail(ms int64, id string) string {
	return fmt.Sprintf("%015d/%s", ms, id)
}

func (o *operation) output(account string) *Operation {
	out := &Operation{
		ID:           str(o.rec.ID),
		OwnerAccount: str(account),
		Type:         str(o.rec.Type),
		Status:       str(o.rec.Status),
		ErrorCode:    optStr(o.rec.ErrorCode),
		ErrorMessage: optStr(o.rec.ErrorMessage),
		CreateDate:   timeOf(o.rec.CreateDate),
		UpdateDate:   timeOf(o.rec.UpdateDate),
		Targets:      o.rec.Targets,
	}
	return out
}

// GetOperation implements the operation of that name.
func (b *Backend) GetOperation(ctx context.Context, in *GetOperationInput) (*GetOperationOutput, error) {
	c, pk := caller(ctx)
	if in.OwnerAccount != nil && *in.OwnerAccount != c.Account {
		return nil, operationNotFound(*in.OperationID)
	}
	var out *GetOperationOutput
	if werr := b.read(ctx, pk, func(p *partition) {
		if op := p.ops[*in.OperationID]; op != nil {
			out = &GetOperationOutput{Operation: op.output(c.Account)}
		}
	}); werr != nil {
		return nil, werr
	}
	if out == nil {
		return nil, operationNotFound(*in.OperationID)
	}
	return out, nil
}

// opFilter is one parsed ListOperations filter.
type opFilter func(*opRecord) bool

func parseOperationFilters(fs []OperationFilter) ([]opFilter, error) {
	var out []opFilter
	for _, f := range fs {
		name, cond := *f.Name, "EQ"
		if f.Condition != nil {
			cond = *f.Condition
		}
		vals := f.Values
		if len(vals) == 0 {
			return nil, invalidInput("Filter %s needs at least one value", name)
		}
		switch name {
		case "NAMESPACE_ID", "SERVICE_ID":
			if cond != "EQ" || len(vals) != 1 {
				return nil, invalidInput("Filter %s supports only the EQ condition, with one value", name)
			}
			kind := targetNamespace
			if name == "SERVICE_ID" {
				kind = targetService
			}
			want := vals[0]
			out = append(out, func(r *opRecord) bool { return r.Targets[kind] == want })
		case "STATUS", "TYPE":
			allowed := []string{statusSubmitted, statusPending, statusSuccess, statusFail}
			if name == "TYPE" {
				allowed = []string{opCreateNamespace, opDeleteNamespace, opUpdateNamespace, opUpdateService, opRegisterInstance, opDeregisterInstance}
			}
			switch {
			case cond == "EQ" && len(vals) != 1:
				return nil, invalidInput("Filter %s with condition EQ takes exactly one value", name)
			case cond != "EQ" && cond != "IN":
				return nil, invalidInput("Filter %s supports only the EQ and IN conditions", name)
			}
			set := map[string]bool{}
			for _, v := range vals {
				if !contains(allowed, v) {
					return nil, invalidInput("Filter %s value %q is not one of [%s]", name, v, strings.Join(allowed, ", "))
				}
				set[v] = true
			}
			isType := name == "TYPE"
			out = append(out, func(r *opRecord) bool {
				if isType {
					return set[r.Type]
				}
				return set[r.Status]
			})
		case "UPDATE_DATE":
			if cond != "BETWEEN" || len(vals) != 2 {
				return nil, invalidInput("Filter UPDATE_DATE supports only the BETWEEN condition, with a start and an end date")
			}
			from, err1 := epochMillis(vals[0])
			to, err2 := epochMillis(vals[1])
			if err1 != nil || err2 != nil {
				return nil, invalidInput("Filter UPDATE_DATE values must be Unix times in seconds or milliseconds")
			}
			out = append(out, func(r *opRecord) bool { return r.UpdateDate >= from && r.UpdateDate <= to })
		default:
			return nil, invalidInput("Unknown filter %s", name)
		}
	}
	return out, nil
}

// epochMillis reads a Unix time given in seconds (possibly fractional) or,
// when larger than 1e11 (year 5138 in seconds), in milliseconds.
func epochMillis(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, invalidInput("bad time %q", s)
	}
	if math.Abs(f) > 1e11 {
		return int64(f), nil
	}
	return int64(math.Round(f * 1000)), nil
}

// ListOperations implements the operation of that name.
func (b *Backend) ListOperations(ctx context.Context, in *ListOperationsInput) (*ListOperationsOutput, error) {
	_, pk := caller(ctx)
	filters, err := parseOperationFilters(in.Filters)
	if err != nil {
		return nil, err
	}
	type item struct{ id, status, key string }
	var items []item
	if werr := b.read(ctx, pk, func(p *partition) {
	next:
		for _, op := range p.ops {
			for _, f := range filters {
				if !f(&op.rec) {
					continue next
				}
			}
			items = append(items, item{op.rec.ID, op.rec.Status, sortKeyTime(op.rec.CreateDate, op.rec.ID)})
		}
	}); werr != nil {
		return nil, werr
	}
	page, tok, err := paginate(items, func(i item) string { return i.key }, in.MaxResults, 100, in.NextToken)
	if err != nil {
		return nil, err
	}
	out := &ListOperationsOutput{Operations: make([]OperationSummary, len(page)), NextToken: tok}
	for i, it := range page {
		out.Operations[i] = OperationSummary{ID: str(it.id), Status: str(it.status)}
	}
	return out, nil
}

// sortKeyTime orders by time, then ID.
func sortKeyTime(ms int64, id string) string {
	return strconv.FormatInt(ms+1e15, 10) + "/" + id
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

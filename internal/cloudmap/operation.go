package cloudmap

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mapmesh/mapmesh/internal/awsapi"
	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/projection"
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
	// Idem is the key tail (idemKey) of the idempotency token the
	// operation was requested with: the sweep deletes that record with
	// the operation. Hash is the request's hash in records written before
	// tokens had records of their own (migrateOps).
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

// idemRecord remembers what a request with an idempotency token did: the
// request's hash and its result (the operation ID of an asynchronous call,
// the service ID of CreateService). It is stored under the ops root
// (partKey.idemKey) by the transaction that makes the change, with a condition
// that the token is new, so that of two requests with one token only the
// first commits.
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

// Operations and idempotency records live under a root of their own,
// outside the view: it neither loads nor watches them, so memory does not
// grow with the operations kept (Config.OperationRetention). They are read
// from the store by key (GetOperation, tokens) or a page of time-ordered
// keys at a time (ListOperations, the console, the sweep):
//
//	/cloudmap-ops/<account>/<region>/op/<createMillis, 15 digits>/<opID>  operation record
//	/cloudmap-ops/<account>/<region>/idem/<op>/<scope>/<token>           idemRecord
const opsRoot = "/cloudmap-ops/"

func (p partKey) opsPrefix() string                { return opsRoot + p.account + "/" + p.region + "/" }
func (p partKey) opPrefix() string                 { return p.opsPrefix() + "op/" }
func (p partKey) opKey(ms int64, id string) string { return p.opPrefix() + opKeyTail(ms, id) }
func (p partKey) idemKey(tail string) string       { return p.opsPrefix() + "idem/" + tail }

// opKeyTail orders operation keys by creation time, so that new operations
// are appended at the end of the key space and the oldest come first.
func opKeyTail(ms int64, id string) string {
	return fmt.Sprintf("%015d/%s", ms, id)
}

// opKeyOf returns the key of operation id: its creation time is the
// base-36 number after its last dash (newOperation).
func (p partKey) opKeyOf(id string) (string, bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 {
		return "", false
	}
	ms, err := strconv.ParseInt(id[i+1:], 36, 64)
	if err != nil || ms < 0 || ms > 999_999_999_999_999 {
		return "", false
	}
	return p.opKey(ms, id), true
}

// opTimeOf returns the creation time in an operation key.
func opTimeOf(key string) (int64, bool) {
	_, tail, ok := strings.Cut(key, "/op/")
	if !ok || len(tail) < 16 {
		return 0, false
	}
	ms, err := strconv.ParseInt(tail[:15], 10, 64)
	return ms, err == nil
}

// readToken reads the record of an idempotency token (nil when it is new,
// or there is no token).
func (b *Backend) readToken(ctx context.Context, pk partKey, tok opToken) (*idemRecord, error) {
	if tok.key == "" {
		return nil, nil
	}
	kv, err := b.store.Get(ctx, pk.idemKey(tok.key))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	r := &idemRecord{}
	if len(kv.Value) == 0 {
		return nil, nil // a lock written before records moved here; its operation holds the result
	}
	if err := json.Unmarshal(kv.Value, r); err != nil {
		return nil, fmt.Errorf("cloudmap: idempotency record %s: %w", kv.Key, err)
	}
	return r, nil
}

// updateTok is update for a request with an idempotency token: before every
// attempt it reads the token's record from the store, outside the view's
// lock (the view does not hold them), and decide gets it: nil for a new
// token. A retry after a lost race reads it again, so a request that lost
// to another with the same token finds that one's record.
func (b *Backend) updateTok(ctx context.Context, pk partKey, tok opToken, decide func(p *partition, t *txn, earlier *idemRecord) error) error {
	var earlier *idemRecord
	attempt := 0
	return b.view.UpdatePrepared(ctx, pk, func(ctx context.Context) error {
		var err error
		earlier, err = b.readToken(ctx, pk, tok)
		return err
	}, func(p *partition, pt *projection.Txn) error {
		attempt++
		return decide(p, &txn{Txn: pt, cache: &b.dom.written, attempt: attempt}, earlier)
	})
}

// answer returns the result of an earlier request with the same token: its
// result when the request was the same, DuplicateRequest (dup) when not.
func (tok opToken) answer(earlier *idemRecord, dup func(result string) error) (string, error) {
	if earlier.Hash != tok.hash {
		return "", dup(earlier.Result)
	}
	return earlier.Result, nil
}

// newOperation records an operation in t and returns its ID. IDs look like
// AWS's: 32 base32 characters that are the same for every operation on one
// target, a dash, and the creation time in epoch milliseconds in base 36.
// With a token it also records the token (a condition that it is new).
func (p *partition) newOperation(t *txn, now int64, typ string, targets map[string]string, tok opToken, status, errCode, errMsg string) string {
	// Two operations on one target in one millisecond would have one ID:
	// the condition below makes the second lose, and each retry moves on
	// by a millisecond.
	now += int64(max(t.attempt-1, 0))
	target := targets[targetInstance] + "/" + targets[targetService] + "/" + targets[targetNamespace]
	id := hashID(32, p.key.account, p.key.region, target) + "-" + strconv.FormatInt(now, 36)
	rec := &opRecord{V: 1, ID: id, Type: typ, Status: status, ErrorCode: errCode, ErrorMessage: errMsg,
		CreateDate: now, UpdateDate: now, Targets: targets, Idem: tok.key}
	k := p.key.opKey(now, id)
	t.cond(k, 0)
	t.putData(k, rec)
	if tok.key != "" {
		ik := p.key.idemKey(tok.key)
		t.cond(ik, 0)
		t.putData(ik, &idemRecord{V: 1, Hash: tok.hash, Result: id, At: now})
	}
	return id
}

func (r *opRecord) output(account string) *Operation {
	return &Operation{
		ID:           str(r.ID),
		OwnerAccount: str(account),
		Type:         str(r.Type),
		Status:       str(r.Status),
		ErrorCode:    optStr(r.ErrorCode),
		ErrorMessage: optStr(r.ErrorMessage),
		CreateDate:   timeOf(r.CreateDate),
		UpdateDate:   timeOf(r.UpdateDate),
		Targets:      r.Targets,
	}
}

// GetOperation implements the operation of that name.
func (b *Backend) GetOperation(ctx context.Context, in *GetOperationInput) (*GetOperationOutput, error) {
	c, pk := caller(ctx)
	if in.OwnerAccount != nil && *in.OwnerAccount != c.Account {
		return nil, operationNotFound(*in.OperationID)
	}
	key, ok := pk.opKeyOf(*in.OperationID)
	if !ok {
		return nil, operationNotFound(*in.OperationID)
	}
	kv, err := b.store.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, operationNotFound(*in.OperationID)
	}
	if err != nil {
		return nil, err
	}
	var r opRecord
	if err := json.Unmarshal(kv.Value, &r); err != nil {
		return nil, fmt.Errorf("cloudmap: operation record %s: %w", kv.Key, err)
	}
	return &GetOperationOutput{Operation: r.output(c.Account)}, nil
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

// ListOperations pages: a page reads at most opScanBudget operations; with
// filters that match few of them it may hold fewer than MaxResults, with a
// NextToken to go on from (AWS's list calls do the same).
const (
	opPageRead    = 1000
	opTokenPrefix = "mo1:"
)

var opScanBudget = 10_000 // a variable for tests

// ListOperations implements the operation of that name: operations oldest
// first, read from the store a page at a time.
func (b *Backend) ListOperations(ctx context.Context, in *ListOperationsInput) (*ListOperationsOutput, error) {
	_, pk := caller(ctx)
	filters, err := parseOperationFilters(in.Filters)
	if err != nil {
		return nil, err
	}
	after, ok := awsapi.ParsePageToken(opTokenPrefix, in.NextToken)
	if !ok {
		return nil, invalidInput("The NextToken is not valid: %s", *in.NextToken)
	}
	max := 100
	if in.MaxResults != nil {
		max = int(*in.MaxResults)
	}
	prefix := pk.opPrefix()
	out := &ListOperationsOutput{Operations: []OperationSummary{}}
	scanned := 0
	for {
		from := ""
		if after != "" {
			from = prefix + after
		}
		page, err := b.store.ListPage(ctx, prefix, store.PageOptions{After: from, Limit: min(opPageRead, opScanBudget-scanned+1)})
		if err != nil {
			return nil, err
		}
	next:
		for i, kv := range page.KVs {
			var r opRecord
			if err := json.Unmarshal(kv.Value, &r); err != nil {
				return nil, fmt.Errorf("cloudmap: operation record %s: %w", kv.Key, err)
			}
			after = strings.TrimPrefix(kv.Key, prefix)
			scanned++
			for _, f := range filters {
				if !f(&r) {
					if scanned >= opScanBudget && (i < len(page.KVs)-1 || page.More) {
						out.NextToken = awsapi.PageToken(opTokenPrefix, after)
						return out, nil
					}
					continue next
				}
			}
			out.Operations = append(out.Operations, OperationSummary{ID: str(r.ID), Status: str(r.Status)})
			if len(out.Operations) == max || scanned >= opScanBudget {
				if i < len(page.KVs)-1 || page.More {
					out.NextToken = awsapi.PageToken(opTokenPrefix, after)
				}
				return out, nil
			}
		}
		if !page.More {
			return out, nil
		}
	}
}

// OperationsPage returns up to limit operations of an account and region,
// newest first, from the one after the operation before (the newest when
// empty), and whether older ones follow (for the console).
func (b *Backend) OperationsPage(ctx context.Context, account, region, before string, limit int) ([]*Operation, bool, error) {
	pk := partKey{account, region}
	from := ""
	if before != "" {
		k, ok := pk.opKeyOf(before)
		if !ok {
			return nil, false, nil
		}
		// An operation that is gone was swept, and so were the older ones.
		if _, err := b.store.Get(ctx, k); errors.Is(err, store.ErrNotFound) {
			return nil, false, nil
		} else if err != nil {
			return nil, false, err
		}
		from = k
	}
	page, err := b.store.ListPage(ctx, pk.opPrefix(), store.PageOptions{After: from, Limit: limit, Reverse: true})
	if err != nil {
		return nil, false, err
	}
	out := make([]*Operation, 0, len(page.KVs))
	for _, kv := range page.KVs {
		var r opRecord
		if err := json.Unmarshal(kv.Value, &r); err != nil {
			return nil, false, fmt.Errorf("cloudmap: operation record %s: %w", kv.Key, err)
		}
		out = append(out, r.output(account))
	}
	return out, page.More, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

package awsapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/mapmesh/mapmesh/internal/store"
)

// Faults names the error codes a service answers with for the failures
// every service can meet outside its own rules: the store's and the
// request's. Services return those failures as they come (wrapping the
// store's sentinel errors or the context's); the Mux maps them here, in one
// place, for both protocols.
type Faults struct {
	// Unavailable is the code of a temporary failure, sent with HTTP 503,
	// which every AWS SDK retries: the store is closed, unreachable or
	// behind (store.ErrUnavailable, store.ErrClosed), its disk is full
	// (store.ErrNoSpace; the message says so), or the request gave up
	// waiting (context errors).
	Unavailable string
	// Throttled is the code, and ThrottledStatus the HTTP status (400
	// when 0), of a write that kept losing races with other writes to the
	// same resources (store.ErrConflict): retryable, and the SDKs retry the
	// throttling codes.
	Throttled       string
	ThrottledStatus int
	// TooLarge is the code of a change larger than one store transaction
	// can hold (store.ErrTooLarge), sent with HTTP 400.
	TooLarge string
}

// Messages of the faults. They say what happened and what to do, and
// nothing of the server's internals.
const (
	msgNoSpace     = "The server's disk is full (no space left on device); the change was not applied. Retry once space is freed."
	msgUnavailable = "The service is temporarily unavailable; the change, if any, was not applied. Retry the request."
	msgThrottled   = "Too many concurrent changes to the same resources; retry the request."
	msgTooLarge    = "The request changes more than one transaction can hold."
)

// fault maps a store or context failure to the service's *Error, logging
// its cause with the request ID; any other error is returned unchanged.
func (m *Mux) fault(c Caller, f Faults, err error) error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}
	var out *Error
	switch {
	case errors.Is(err, store.ErrNoSpace):
		out = &Error{Code: f.Unavailable, Status: http.StatusServiceUnavailable, Message: msgNoSpace}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		out = &Error{Code: f.Unavailable, Status: http.StatusServiceUnavailable, Message: msgUnavailable}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away, or a bound of the server ran out.
		out = &Error{Code: f.Unavailable, Status: http.StatusServiceUnavailable, Message: msgUnavailable}
		m.log.Debug("request gave up", "request_id", c.RequestID, "err", err)
		return out
	case errors.Is(err, store.ErrConflict):
		status := f.ThrottledStatus
		if status == 0 {
			status = http.StatusBadRequest
		}
		out = &Error{Code: f.Throttled, Status: status, Message: msgThrottled}
	case errors.Is(err, store.ErrTooLarge):
		out = &Error{Code: f.TooLarge, Status: http.StatusBadRequest, Message: msgTooLarge}
	default:
		return err
	}
	if out.Code == "" {
		return err // a service without fault codes: an internal error
	}
	m.log.Warn("request failed", "request_id", c.RequestID, "code", out.Code, "err", err)
	return out
}

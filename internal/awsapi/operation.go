package awsapi

import (
	"context"
	"encoding/json"
)

// Operation is one API operation: a typed method wrapped so the protocol
// layer can decode its input, validate it, call it and encode its output
// without knowing its types.
type Operation struct {
	newInput func() any
	call     func(ctx context.Context, in any) (any, error)
}

// Op wraps a typed method as an Operation. The input type's Validate method,
// if it has one (generated shapes do), runs before f is called.
func Op[I, O any](f func(context.Context, *I) (*O, error)) Operation {
	return Operation{
		newInput: func() any { return new(I) },
		call: func(ctx context.Context, in any) (any, error) {
			out, err := f(ctx, in.(*I))
			if err != nil || out == nil {
				return nil, err
			}
			return out, nil
		},
	}
}

// JSONAppender is implemented by outputs that encode themselves faster than
// encoding/json can (the discovery hot path). AppendJSON appends the
// complete JSON document.
type JSONAppender interface {
	AppendJSON(dst []byte) []byte
}

// JSONBody is implemented by outputs that may hold their complete encoded
// JSON already (a cached answer): a non-nil JSONBody is sent as it is, not
// copied. The bytes are shared; nobody modifies them.
type JSONBody interface {
	JSONBody() []byte
}

// decodeJSON decodes body into a new input and validates it. An empty body
// is an empty object.
func (op Operation) decodeJSON(body []byte, validationCode string) (any, error) {
	in := op.newInput()
	if len(body) > 0 {
		if f, ok := in.(FlatDecoder); !ok || !DecodeFlat(body, f) {
			in = op.newInput() // nothing of a partial flat read
			if err := json.Unmarshal(body, in); err != nil {
				return nil, serializationError(err)
			}
		}
	}
	return in, validate(in, validationCode)
}

func validate(in any, code string) error {
	v, ok := in.(Validator)
	if !ok {
		return nil
	}
	var val Validation
	v.Validate(&val, "")
	return val.Err(code)
}

// encodeJSON appends the JSON form of an operation's output; a nil output
// (an operation without an output shape) is an empty object.
func encodeJSON(dst []byte, out any) ([]byte, error) {
	if out == nil {
		return append(dst, "{}"...), nil
	}
	if a, ok := out.(JSONAppender); ok {
		return a.AppendJSON(dst), nil
	}
	b, err := json.Marshal(out)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

package xds

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/mapmesh/mapmesh/internal/appmesh"
)

// validator is what the Envoy protos generate (protoc-gen-validate).
type validator interface {
	ValidateAll() error
}

// validate runs the Envoy proto validation of m.
func validate(m proto.Message) error {
	v, ok := m.(validator)
	if !ok {
		return fmt.Errorf("xds: %s has no validation", proto.MessageName(m))
	}
	return v.ValidateAll()
}

// typed packs a typed config into an Any, after validating it: PGV does not
// look inside an Any, so the resource's own validation would not.
func (b *builder) typed(m proto.Message) *anypb.Any {
	if err := validate(m); err != nil {
		b.notef("%s failed Envoy validation: %v", proto.MessageName(m).Name(), err)
	}
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("xds: marshal %s: %v", proto.MessageName(m), err))
	}
	return a
}

// duration converts an App Mesh duration; ok is false when d is unset.
func duration(d *appmesh.Duration) (*durationpb.Duration, bool) {
	if d == nil || d.Value == nil {
		return nil, false
	}
	unit := time.Second
	if deref(d.Unit) == "ms" {
		unit = time.Millisecond
	}
	return durationpb.New(time.Duration(*d.Value) * unit), true
}

func millis(ms int64) *durationpb.Duration {
	return durationpb.New(time.Duration(ms) * time.Millisecond)
}

func seconds(s float64) *durationpb.Duration {
	return durationpb.New(time.Duration(s * float64(time.Second)))
}

func u32(v uint32) *wrapperspb.UInt32Value { return wrapperspb.UInt32(v) }

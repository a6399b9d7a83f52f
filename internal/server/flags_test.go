package server

import (
	"flag"
	"io"
	"log/slog"
	"testing"
	"time"
)

func TestFlagsConnectionBounds(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		env         map[string]string
		readTimeout time.Duration
		maxConns    int
	}{
		{"defaults", nil, nil, 30 * time.Second, 4096},
		{"flags", []string{"--read-timeout", "5s", "--max-connections", "64"}, nil, 5 * time.Second, 64},
		{"environment", nil, map[string]string{"MAPMESH_READ_TIMEOUT": "1m", "MAPMESH_MAX_CONNECTIONS": "10"}, time.Minute, 10},
		{"flag wins", []string{"--read-timeout", "2s"}, map[string]string{"MAPMESH_READ_TIMEOUT": "1m"}, 2 * time.Second, 4096},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFlags(flag.NewFlagSet("mapmesh", flag.ContinueOnError))
			if err := f.Parse(tc.args, func(k string) string { return tc.env[k] }, io.Discard); err != nil {
				t.Fatalf("Parse(%q) = %v", tc.args, err)
			}
			if c := f.Config; c.ReadTimeout != tc.readTimeout || c.MaxConnections != tc.maxConns {
				t.Errorf("Parse(%q, %v): ReadTimeout, MaxConnections = %v, %d; want %v, %d", tc.args, tc.env, c.ReadTimeout, c.MaxConnections, tc.readTimeout, tc.maxConns)
			}
		})
	}
}

func TestAPIServerTimeouts(t *testing.T) {
	tests := []struct {
		readTimeout        time.Duration
		wantRead, wantHead time.Duration
	}{
		{0, DefaultReadTimeout, headerTimeout},
		{time.Minute, time.Minute, headerTimeout},
		{time.Second, time.Second, time.Second},
		{-1, 0, headerTimeout},
	}
	for _, tc := range tests {
		s := apiServer(nil, tc.readTimeout, slog.New(slog.DiscardHandler))
		if s.ReadTimeout != tc.wantRead || s.ReadHeaderTimeout != tc.wantHead || s.MaxHeaderBytes != maxHeaderBytes {
			t.Errorf("apiServer(%v): ReadTimeout, ReadHeaderTimeout, MaxHeaderBytes = %v, %v, %d; want %v, %v, %d", tc.readTimeout,
				s.ReadTimeout, s.ReadHeaderTimeout, s.MaxHeaderBytes, tc.wantRead, tc.wantHead, maxHeaderBytes)
		}
	}
}

func TestFlagsXDSClientCA(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
	}{
		{[]string{"--xds-client-ca", "ca.pem"}, nil},
		{nil, map[string]string{"MAPMESH_XDS_CLIENT_CA": "ca.pem"}},
	} {
		f := NewFlags(flag.NewFlagSet("mapmesh", flag.ContinueOnError))
		if err := f.Parse(tc.args, func(k string) string { return tc.env[k] }, io.Discard); err != nil {
			t.Fatalf("Parse(%q) = %v", tc.args, err)
		}
		if got := f.Config.XDSClientCA; got != "ca.pem" {
			t.Errorf("Parse(%q, %v): XDSClientCA = %q; want ca.pem", tc.args, tc.env, got)
		}
	}
}

func TestFlagsBoltCompactMinBytes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want int64
	}{
		{"default", nil, nil, 64 << 20},
		{"never", []string{"--bolt-compact-min-bytes=-1"}, nil, -1},
		{"environment", nil, map[string]string{"MAPMESH_BOLT_COMPACT_MIN_BYTES": "1048576"}, 1 << 20},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFlags(flag.NewFlagSet("mapmesh", flag.ContinueOnError))
			if err := f.Parse(tc.args, func(k string) string { return tc.env[k] }, io.Discard); err != nil {
				t.Fatalf("Parse(%q) = %v", tc.args, err)
			}
			if got := f.Config.BoltCompactMinBytes; got != tc.want {
				t.Errorf("Parse(%q, %v): BoltCompactMinBytes = %d; want %d", tc.args, tc.env, got, tc.want)
			}
		})
	}
}

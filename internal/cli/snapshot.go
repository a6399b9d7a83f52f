package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/store"
	"github.com/mapmesh/mapmesh/internal/store/boltstore"
	"github.com/mapmesh/mapmesh/internal/store/etcdstore"
)

// snapshot runs "snapshot save" and "snapshot restore".
func snapshot(e Env, args []string) int {
	if len(args) == 0 {
		return usageError(e, "snapshot needs save or restore")
	}
	switch args[0] {
	case "save":
		return snapshotSave(e, args[1:])
	case "restore":
		return snapshotRestore(e, args[1:])
	}
	return usageError(e, fmt.Sprintf("unknown snapshot command %q", args[0]))
}

// parse parses a subcommand's flags and returns its one argument.
func parse(e Env, fs *flag.FlagSet, args []string, what string) (string, int, bool) {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(e.Stdout)
			fs.PrintDefaults()
			return "", exitOK, false
		}
		return "", usageError(e, err.Error()), false
	}
	if fs.NArg() != 1 {
		return "", usageError(e, fmt.Sprintf("%s needs exactly one FILE", what)), false
	}
	return fs.Arg(0), 0, true
}

// snapshotSave fetches GET /_mapmesh/snapshot from a running server and
// writes it to FILE (through a temporary file, so FILE is whole or absent).
// With AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set, the request is
// signed (a server with --auth sigv4 needs an admin identity).
func snapshotSave(e Env, args []string) int {
	fs := flag.NewFlagSet("mapmesh snapshot save", flag.ContinueOnError)
	endpoint := fs.String("endpoint", "http://"+server.DefaultAPIAddr, "URL of the server's API")
	region := fs.String("region", "", "region of the signature (default $AWS_REGION, else us-east-1)")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the whole transfer")
	file, code, ok := parse(e, fs, args, "snapshot save")
	if !ok {
		return code
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*endpoint, "/")+"/_mapmesh/snapshot", nil)
	if err != nil {
		return fail(e, "snapshot save: %v", err)
	}
	if err := signAdmin(e, req, *region); err != nil {
		return fail(e, "snapshot save: sign: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fail(e, "snapshot save: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fail(e, "snapshot save: %s answered %s: %s", *endpoint, resp.Status, strings.TrimSpace(string(b)))
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".snapshot-*")
	if err != nil {
		return fail(e, "snapshot save: %v", err)
	}
	defer os.Remove(tmp.Name())
	sr, err := store.ReadSnapshot(io.TeeReader(resp.Body, tmp))
	if err != nil {
		return fail(e, "snapshot save: %v", err)
	}
	for {
		_, more, err := sr.Next()
		if err != nil {
			return fail(e, "snapshot save: %v", err)
		}
		if !more {
			break
		}
	}
	if err := tmp.Sync(); err != nil {
		return fail(e, "snapshot save: %v", err)
	}
	if err := tmp.Close(); err != nil {
		return fail(e, "snapshot save: %v", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return fail(e, "snapshot save: %v", err)
	}
	fmt.Fprintf(e.Stdout, "saved revision %d (%d keys) to %s\n", sr.Header.Revision, sr.Header.Keys, file)
	return exitOK
}

// snapshotRestore creates a data directory from a snapshot, for a server
// to start on; the directory must be empty or absent. With --store etcd it
// writes the snapshot under an etcd prefix instead, which must be empty.
func snapshotRestore(e Env, args []string) int {
	fs := flag.NewFlagSet("mapmesh snapshot restore", flag.ContinueOnError)
	dataDir := fs.String("data-dir", "", "data directory to create (must be empty or absent), for --store bolt")
	storeKind := fs.String("store", server.StoreBolt, "where to restore: bolt (a new --data-dir) or etcd (an empty --etcd-prefix at --etcd-endpoints)")
	timeout := fs.Duration("timeout", 10*time.Minute, "bound on the whole restore, for --store etcd")
	var cfg server.Config
	server.EtcdFlags(fs, &cfg)
	file, code, ok := parse(e, fs, args, "snapshot restore")
	if !ok {
		return code
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	switch *storeKind {
	case server.StoreBolt:
		for name := range given {
			if strings.HasPrefix(name, "etcd-") {
				return usageError(e, fmt.Sprintf("snapshot restore: --%s needs --store etcd", name))
			}
		}
	case server.StoreEtcd:
		if given["data-dir"] {
			return usageError(e, "snapshot restore: --store etcd takes no --data-dir")
		}
		if len(cfg.EtcdEndpoints) == 0 {
			return usageError(e, "snapshot restore --store etcd needs --etcd-endpoints")
		}
		return snapshotRestoreEtcd(e, &cfg, *timeout, file)
	default:
		return usageError(e, fmt.Sprintf("snapshot restore: --store must be bolt or etcd, not %q", *storeKind))
	}
	if *dataDir == "" {
		return usageError(e, "snapshot restore needs --data-dir")
	}
	if entries, err := os.ReadDir(*dataDir); err == nil && len(entries) > 0 {
		return fail(e, "snapshot restore: %s is not empty; restore into a new directory", *dataDir)
	}
	f, err := os.Open(file)
	if err != nil {
		return fail(e, "snapshot restore: %v", err)
	}
	defer f.Close()
	sr, err := store.ReadSnapshot(f)
	if err != nil {
		return fail(e, "snapshot restore: %s: %v", file, err)
	}
	if err := os.MkdirAll(*dataDir, 0o755); err != nil {
		return fail(e, "snapshot restore: %v", err)
	}
	if err := boltstore.Restore(filepath.Join(*dataDir, server.DBFile), sr); err != nil {
		return fail(e, "snapshot restore: %s: %v", file, err)
	}
	fmt.Fprintf(e.Stdout, "restored revision %d (%d keys) into %s\n", sr.Header.Revision, sr.Header.Keys, *dataDir)
	return exitOK
}

// snapshotRestoreEtcd writes a snapshot under the etcd prefix cfg names.
func snapshotRestoreEtcd(e Env, cfg *server.Config, timeout time.Duration, file string) int {
	f, err := os.Open(file)
	if err != nil {
		return fail(e, "snapshot restore: %v", err)
	}
	defer f.Close()
	sr, err := store.ReadSnapshot(f)
	if err != nil {
		return fail(e, "snapshot restore: %s: %v", file, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	rev, err := server.RestoreEtcd(ctx, cfg, sr)
	if errors.Is(err, etcdstore.ErrNotEmpty) {
		return fail(e, "snapshot restore: %v; a restore into a live cluster would mix two states: use a fresh --etcd-prefix, or stop its servers and delete it (etcdctl del --prefix %s)", err, cfg.EtcdPrefix)
	}
	if err != nil {
		return fail(e, "snapshot restore: %s: %v", file, err)
	}
	fmt.Fprintf(e.Stdout, "restored revision %d (%d keys) into etcd %s under %s, at etcd revision %d\n",
		sr.Header.Revision, sr.Header.Keys, strings.Join(cfg.EtcdEndpoints, ","), cfg.EtcdPrefix, rev)
	return exitOK
}

// signAdmin signs a request to an admin endpoint (SigV4, signing name
// mapmesh) with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN, for region (default $AWS_REGION, $AWS_DEFAULT_REGION,
// else us-east-1). Without keys it leaves the request unsigned, for a
// server without --auth. The request has no body.
func signAdmin(e Env, req *http.Request, region string) error {
	key, secret := e.Getenv("AWS_ACCESS_KEY_ID"), e.Getenv("AWS_SECRET_ACCESS_KEY")
	if key == "" || secret == "" {
		return nil
	}
	if region == "" {
		region = firstOf(e.Getenv("AWS_REGION"), e.Getenv("AWS_DEFAULT_REGION"), "us-east-1")
	}
	sum := sha256.Sum256(nil)
	creds := aws.Credentials{AccessKeyID: key, SecretAccessKey: secret, SessionToken: e.Getenv("AWS_SESSION_TOKEN")}
	return v4.NewSigner().SignHTTP(req.Context(), creds, req, hex.EncodeToString(sum[:]), "mapmesh", region, time.Now())
}

func fail(e Env, format string, args ...any) int {
	fmt.Fprintf(e.Stderr, "mapmesh: "+format+"\n", args...)
	return exitError
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}

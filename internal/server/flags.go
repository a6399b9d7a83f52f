package server

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/mapmesh/mapmesh/internal/cloudmap"
)

// Flags binds the command line to a Config. Every flag can also be set in
// the environment as MAPMESH_<FLAG> (upper case, dashes as underscores); a
// flag given on the command line wins.
type Flags struct {
	Config    Config
	LogFormat string
	LogLevel  string
	fs        *flag.FlagSet
}

// NewFlags defines mapmesh's flags on fs.
func NewFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{fs: fs}
	c := &f.Config
	fs.StringVar(&c.APIAddr, "api-addr", DefaultAPIAddr, "host:port of the AWS API (Cloud Map)")
	fs.StringVar(&c.DataDir, "data-dir", DefaultDataDir, "directory of the embedded store (created if missing)")
	fs.StringVar(&c.Region, "region", DefaultRegion, "region for requests that carry no SigV4 credential scope")
	fs.StringVar(&f.LogFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.LogLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&c.EnableReset, "enable-reset", false, "serve POST /_mapmesh/reset and POST /moto-api/reset, which wipe all state (tests only)")
	fs.DurationVar(&c.CustomHealthDelay, "custom-health-delay", 0, "delay before UpdateInstanceCustomHealthStatus takes effect (AWS: about 30s)")
	fs.DurationVar(&c.OperationRetention, "operation-retention", cloudmap.DefaultOperationRetention, "how long Cloud Map operations (and the request tokens they answer) are kept")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "host:port for Go's profiling endpoints (/debug/pprof/); empty disables")
	fs.DurationVar(&c.CommitDelay, "commit-delay", 0, "longest wait to group concurrent writes into one fsync (0: default 1ms; negative: never wait)")
	fs.Int64Var(&c.MaxBodyBytes, "max-body-bytes", 1<<20, "largest API request body accepted")
	fs.IntVar(&c.Quotas.NamespacesPerRegion, "quota-namespaces", cloudmap.DefaultQuotas.NamespacesPerRegion, "Cloud Map namespaces per account and region")
	fs.IntVar(&c.Quotas.ServicesPerNamespace, "quota-services-per-namespace", cloudmap.DefaultQuotas.ServicesPerNamespace, "Cloud Map services per namespace")
	fs.IntVar(&c.Quotas.InstancesPerService, "quota-instances-per-service", cloudmap.DefaultQuotas.InstancesPerService, "Cloud Map instances per service")
	fs.IntVar(&c.Quotas.InstancesPerNamespace, "quota-instances-per-namespace", cloudmap.DefaultQuotas.InstancesPerNamespace, "Cloud Map instances per namespace")
	return f
}

// Parse parses args, then fills every flag not given from the environment,
// and builds the logger.
func (f *Flags) Parse(args []string, getenv func(string) string, stderr io.Writer) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	given := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var err error
	f.fs.VisitAll(func(fl *flag.Flag) {
		env := "MAPMESH_" + strings.ToUpper(strings.ReplaceAll(fl.Name, "-", "_"))
		if v := getenv(env); v != "" && !given[fl.Name] && err == nil {
			if e := fl.Value.Set(v); e != nil {
				err = fmt.Errorf("%s=%q: %w", env, v, e)
			}
		}
	})
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.LogLevel)); err != nil {
		return fmt.Errorf("--log-level %q: %w", f.LogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.LogFormat {
	case "text":
		f.Config.Logger = slog.New(slog.NewTextHandler(stderr, opts))
	case "json":
		f.Config.Logger = slog.New(slog.NewJSONHandler(stderr, opts))
	default:
		return fmt.Errorf("--log-format must be text or json, not %q", f.LogFormat)
	}
	return nil
}

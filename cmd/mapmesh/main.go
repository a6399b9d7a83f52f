// Command mapmesh serves the AWS Cloud Map API on an embedded, durable store.
//
//	mapmesh [--api-addr 127.0.0.1:9711] [--data-dir mapmesh-data] [--region us-east-1] [--log-format text|json]
//
// Every flag can also be set as MAPMESH_<FLAG> in the environment; see
// mapmesh --help.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/mapmesh/mapmesh/internal/server"
)

func main() {
	fs := flag.NewFlagSet("mapmesh", flag.ContinueOnError)
	flags := server.NewFlags(fs)
	if err := flags.Parse(os.Args[1:], os.Getenv, os.Stderr); err != nil {
		if err == flag.ErrHelp {
			return
		}
		fmt.Fprintln(os.Stderr, "mapmesh:", err)
		os.Exit(2)
	}
	if os.Getenv("GOGC") == "" {
		// The live heap is small (the views); collecting less often halves
		// the GC's share of a busy server's CPU. GOGC in the environment wins.
		debug.SetGCPercent(400)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := server.Run(ctx, flags.Config); err != nil {
		flags.Config.Logger.Error("mapmesh stopped", "err", err)
		stop()
		os.Exit(1)
	}
}

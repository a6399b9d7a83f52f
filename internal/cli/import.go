package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/appmesh"

	"github.com/mapmesh/mapmesh/internal/k8simport"
	"github.com/mapmesh/mapmesh/internal/server"
)

// importManifests runs "import": it reads Kubernetes manifests of the App
// Mesh controller and makes or updates the App Mesh resources they stand
// for, through the App Mesh API of a running server (see k8simport). With
// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set, it signs its calls
// with them (a server with --auth sigv4 needs them); without, it does not
// sign. Notes and outcomes go to stdout, failures to stderr.
func importManifests(e Env, args []string) int {
	fs := flag.NewFlagSet("mapmesh import", flag.ContinueOnError)
	var paths []string
	addPath := func(v string) error { paths = append(paths, v); return nil }
	fs.Func("f", "manifest file, or directory read recursively (.yaml, .yml, .json); may be repeated", addPath)
	fs.Func("filename", "same as -f", addPath)
	endpoint := fs.String("endpoint", "http://"+server.DefaultAPIAddr, "URL of the server's API")
	region := fs.String("region", "", "region of the calls (default $AWS_REGION, else $AWS_DEFAULT_REGION, else us-east-1)")
	mesh := fs.String("mesh", "", "Kubernetes name of the Mesh of objects whose mesh the input does not tell (no spec.meshRef, no Namespace a Mesh selects)")
	dryRun := fs.Bool("dry-run", false, "show what would be created or updated; change nothing")
	timeout := fs.Duration("timeout", 5*time.Minute, "bound on the whole import")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			fs.SetOutput(e.Stdout)
			fmt.Fprintln(e.Stdout, "Usage: mapmesh import -f FILE|DIR [-f ...] [--endpoint URL] [--dry-run] [--mesh MESH]")
			fs.PrintDefaults()
			return exitOK
		}
		return usageError(e, err.Error())
	}
	if fs.NArg() > 0 {
		return usageError(e, fmt.Sprintf("import: unexpected argument %q (manifests go after -f)", fs.Arg(0)))
	}
	if len(paths) == 0 {
		return usageError(e, "import needs -f FILE or -f DIR")
	}
	var objs []k8simport.Object
	for _, p := range paths {
		o, err := k8simport.ReadPath(p)
		if err != nil {
			return fail(e, "import: %v", err)
		}
		objs = append(objs, o...)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := *region
	if r == "" {
		r = firstOf(e.Getenv("AWS_REGION"), e.Getenv("AWS_DEFAULT_REGION"), "us-east-1")
	}
	var creds aws.CredentialsProvider = aws.AnonymousCredentials{}
	if key, secret := e.Getenv("AWS_ACCESS_KEY_ID"), e.Getenv("AWS_SECRET_ACCESS_KEY"); key != "" && secret != "" {
		creds = credentials.NewStaticCredentialsProvider(key, secret, e.Getenv("AWS_SESSION_TOKEN"))
	}
	am := appmesh.New(appmesh.Options{BaseEndpoint: aws.String(strings.TrimSuffix(*endpoint, "/")), Region: r, Credentials: creds})

	plan, err := k8simport.Build(ctx, objs, k8simport.Options{Mesh: *mesh, Exists: k8simport.Exists(am)})
	if err != nil {
		fmt.Fprintf(e.Stderr, "mapmesh: import: nothing was changed; the input has problems:\n%s\n", indent(err.Error()))
		return exitError
	}
	for _, n := range plan.Notes {
		fmt.Fprintln(e.Stdout, "note:", n)
	}
	verb := map[k8simport.Action]string{k8simport.Created: "created", k8simport.Updated: "updated", k8simport.Unchanged: "unchanged"}
	if *dryRun {
		verb = map[k8simport.Action]string{k8simport.Created: "would create", k8simport.Updated: "would update", k8simport.Unchanged: "unchanged"}
	}
	counts := map[k8simport.Action]int{}
	notes, err := k8simport.Apply(ctx, am, plan, *dryRun, func(res k8simport.Result) {
		counts[res.Action]++
		line := fmt.Sprintf("%-12s %s", verb[res.Action], res.Resource.String())
		if res.Version > 0 {
			line += fmt.Sprintf(" (version %d)", res.Version)
		}
		fmt.Fprintln(e.Stdout, line)
		for _, c := range res.Changes {
			fmt.Fprintln(e.Stdout, "             ", c)
		}
	})
	for _, n := range notes {
		fmt.Fprintln(e.Stdout, "note:", n)
	}
	summary := fmt.Sprintf("%d created, %d updated, %d unchanged", counts[k8simport.Created], counts[k8simport.Updated], counts[k8simport.Unchanged])
	if *dryRun {
		summary = fmt.Sprintf("dry run: %d to create, %d to update, %d unchanged", counts[k8simport.Created], counts[k8simport.Updated], counts[k8simport.Unchanged])
	}
	if err != nil {
		fmt.Fprintln(e.Stdout, summary)
		return fail(e, "import: %v", err)
	}
	fmt.Fprintln(e.Stdout, summary)
	return exitOK
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}

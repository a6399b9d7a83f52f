//go:build e2e

package readme

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mapmesh/mapmesh/internal/server"
	"github.com/mapmesh/mapmesh/internal/server/servertest"
)

// readmePath is README.md at the repository root, from this package's directory.
const readmePath = "../../README.md"

// Info strings of the fences this test reads.
const (
	infoShell  = "sh walkthrough"
	infoPython = "python walkthrough"
	infoOutput = "text walkthrough-output"
)

// block is one executable block of the README and the output it shows.
type block struct {
	info string
	line int // README.md line of the opening fence
	body string
	// want are the lines the README shows the block printing (nil: none shown).
	want []string
}

// parseBlocks returns the marked blocks of a README, in order, with each
// output block attached to the executable block before it.
func parseBlocks(readme []byte) ([]*block, error) {
	var out []*block
	var cur *block
	var curInfo string
	var body strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(readme))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur == nil && curInfo == "" {
			info, ok := strings.CutPrefix(line, "```")
			if !ok {
				continue
			}
			info = strings.Join(strings.Fields(info), " ")
			switch info {
			case infoShell, infoPython:
				cur = &block{info: info, line: n}
			case infoOutput:
				if len(out) == 0 {
					return nil, fmt.Errorf("README.md:%d: output block before any walkthrough block", n)
				}
				if out[len(out)-1].want != nil {
					return nil, fmt.Errorf("README.md:%d: second output block for the block at line %d", n, out[len(out)-1].line)
				}
			default:
				if strings.Contains(info, "walkthrough") {
					return nil, fmt.Errorf("README.md:%d: unknown walkthrough fence %q", n, info)
				}
				info = "other"
			}
			curInfo = info
			body.Reset()
			continue
		}
		if strings.TrimSpace(line) != "```" {
			body.WriteString(line)
			body.WriteByte('\n')
			continue
		}
		switch curInfo {
		case infoShell, infoPython:
			cur.body = body.String()
			out = append(out, cur)
		case infoOutput:
			want := []string{}
			for _, l := range strings.Split(body.String(), "\n") {
				if strings.TrimSpace(l) != "" {
					want = append(want, l)
				}
			}
			out[len(out)-1].want = want
		}
		cur, curInfo = nil, ""
	}
	if curInfo != "" {
		return nil, fmt.Errorf("README.md: unterminated %q block", curInfo)
	}
	return out, sc.Err()
}

func readBlocks(t *testing.T) []*block {
	t.Helper()
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	blocks, err := parseBlocks(readme)
	if err != nil {
		t.Fatal(err)
	}
	return blocks
}

func byInfo(blocks []*block, info string) []*block {
	var out []*block
	for _, b := range blocks {
		if b.info == info {
			out = append(out, b)
		}
	}
	return out
}

var awsCommand = regexp.MustCompile(`\baws (servicediscovery|appmesh)\b`)

// TestWalkthroughBlocks checks the README's marked blocks without running
// them: there is a walkthrough, and every AWS CLI command in it names the
// local endpoint, so none can reach real AWS.
func TestWalkthroughBlocks(t *testing.T) {
	blocks := readBlocks(t)
	if got := len(byInfo(blocks, infoShell)); got < 3 {
		t.Errorf("README.md has %d %q blocks; want the walkthrough (at least 3)", got, infoShell)
	}
	if got := len(byInfo(blocks, infoPython)); got != 1 {
		t.Errorf("README.md has %d %q blocks; want 1", got, infoPython)
	}
	for _, b := range byInfo(blocks, infoShell) {
		// A command may span lines, so count per block.
		cmds := len(awsCommand.FindAllString(b.body, -1))
		eps := strings.Count(b.body, `--endpoint-url "$ENDPOINT"`)
		if cmds != eps {
			t.Errorf("README.md:%d: %d aws servicediscovery or appmesh commands but %d --endpoint-url \"$ENDPOINT\"; want one each", b.line, cmds, eps)
		}
	}
}

// TestWalkthrough runs the README's walkthrough against a fresh server.
func TestWalkthrough(t *testing.T) {
	for _, bin := range []string{"aws", "python3"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s is not on PATH; the README walkthrough needs it: %v", bin, err)
		}
	}
	blocks := readBlocks(t)
	srv := servertest.Start(t, server.Config{})
	env := walkthroughEnv(t, srv.URL)

	t.Run("cli", func(t *testing.T) {
		shell := byInfo(blocks, infoShell)
		var script strings.Builder
		script.WriteString("set -euo pipefail\n")
		for i, b := range shell {
			fmt.Fprintf(&script, "printf '\\n%s\\n'\n", marker(i))
			script.WriteString(b.body)
		}
		stdout, stderr, err := run(t, env, "bash", "walkthrough.sh", script.String())
		outs := splitOutput(stdout, len(shell))
		if err != nil {
			last := 0
			for i := range shell {
				if strings.Contains(stdout, marker(i)) {
					last = i
				}
			}
			t.Fatalf("walkthrough shell failed in the block at README.md:%d: %v\nstdout of that block:\n%s\nstderr:\n%s",
				shell[last].line, err, outs[last], stderr)
		}
		for i, b := range shell {
			checkOutput(t, b, outs[i])
		}
	})

	t.Run("boto3", func(t *testing.T) {
		for _, b := range byInfo(blocks, infoPython) {
			stdout, stderr, err := run(t, env, "python3", "walkthrough.py", b.body)
			if err != nil {
				t.Fatalf("boto3 script at README.md:%d failed: %v\nstdout:\n%s\nstderr:\n%s", b.line, err, stdout, stderr)
			}
			checkOutput(t, b, stdout)
		}
	})
}

// walkthroughEnv is the environment the walkthrough runs in: the caller's,
// without its AWS settings, plus fake credentials, empty AWS config files,
// the server's endpoint, and host prefix injection off.
func walkthroughEnv(t *testing.T, endpoint string) []string {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "ENDPOINT=") {
			env = append(env, kv)
		}
	}
	return append(env,
		"ENDPOINT="+endpoint,
		"AWS_ACCESS_KEY_ID=AKIDREADMETEST",
		"AWS_SECRET_ACCESS_KEY=readme-test-secret",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+empty,
		"AWS_SHARED_CREDENTIALS_FILE="+empty,
		"AWS_DISABLE_HOST_PREFIX_INJECTION=true",
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
	)
}

// run writes src to a file named name in a temporary directory and runs it
// with interpreter there.
func run(t *testing.T, env []string, interpreter, name, src string) (stdout, stderr string, err error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, interpreter, path)
	cmd.Dir = dir
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func marker(i int) string { return fmt.Sprintf("@@walkthrough-block-%d@@", i) }

// splitOutput cuts the walkthrough's stdout into the output of each of its n
// blocks, at the markers printed between them.
func splitOutput(stdout string, n int) []string {
	outs := make([]string, n)
	rest := stdout
	for i := n - 1; i >= 0; i-- {
		if j := strings.LastIndex(rest, marker(i)+"\n"); j >= 0 {
			outs[i] = rest[j+len(marker(i))+1:]
			rest = rest[:j]
		}
	}
	return outs
}

// checkOutput reports each line the README shows for b that its output
// lacks. Lines are compared by their fields.
func checkOutput(t *testing.T, b *block, got string) {
	t.Helper()
	have := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		have[strings.Join(strings.Fields(l), " ")] = true
	}
	for _, w := range b.want {
		if !have[strings.Join(strings.Fields(w), " ")] {
			t.Errorf("block at README.md:%d printed:\n%s\nwant a line %q (the README shows it)", b.line, got, w)
		}
	}
}

func TestParseBlocks(t *testing.T) {
	tests := []struct {
		name    string
		readme  string
		want    []block // info, line, body, want
		wantErr bool
	}{
		{
			name: "shell with output, other fences ignored",
			readme: "# x\n```sh\nignored\n```\n```sh walkthrough\necho a\n```\n\n```text walkthrough-output\na\n\n```\n" +
				"```python walkthrough\nprint(1)\n```\n",
			want: []block{
				{info: infoShell, line: 5, body: "echo a\n", want: []string{"a"}},
				{info: infoPython, line: 13, body: "print(1)\n"},
			},
		},
		{name: "output first", readme: "```text walkthrough-output\na\n```\n", wantErr: true},
		{name: "two outputs", readme: "```sh walkthrough\n```\n```text walkthrough-output\n```\n```text walkthrough-output\n```\n", wantErr: true},
		{name: "unknown marker", readme: "```bash walkthrough\n```\n", wantErr: true},
		{name: "unterminated", readme: "```sh walkthrough\necho\n", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBlocks([]byte(tc.readme))
			if (err != nil) != tc.wantErr {
				t.Fatalf("parseBlocks(%q) error = %v; want error %v", tc.readme, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if len(got) != len(tc.want) {
				t.Fatalf("parseBlocks(%q) = %d blocks; want %d", tc.readme, len(got), len(tc.want))
			}
			for i, w := range tc.want {
				g := got[i]
				if g.info != w.info || g.line != w.line || g.body != w.body || strings.Join(g.want, "|") != strings.Join(w.want, "|") {
					t.Errorf("parseBlocks(%q)[%d] = %+v; want %+v", tc.readme, i, *g, w)
				}
			}
		})
	}
}

func TestSplitOutput(t *testing.T) {
	stdout := "\n" + marker(0) + "\nfirst\n\n" + marker(1) + "\n\n" + marker(2) + "\nthird\n"
	got := splitOutput(stdout, 3)
	want := []string{"first\n\n", "\n", "third\n"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("splitOutput(%q, 3)[%d] = %q; want %q", stdout, i, got[i], want[i])
		}
	}
}

package dashboard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// nodeOrSkip returns the path of node. Without node the test is skipped,
// except in CI (CI=true), where it fails.
func nodeOrSkip(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed; CI must run the JavaScript tests")
		}
		t.Skip("node is not installed")
	}
	return node
}

// runNode runs node with args in this directory and fails t if it fails.
func runNode(t *testing.T, args ...string) {
	t.Helper()
	node := nodeOrSkip(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, args...)
	out, err := cmd.CombinedOutput()
	if err != nil || testing.Verbose() {
		t.Logf("%s %v:\n%s", node, cmd.Args[1:], out)
	}
	if err != nil {
		t.Fatalf("node failed: %v", err)
	}
}

// TestJavaScript runs the Node tests in testdata/*.test.mjs: model.js and
// wire.js unit tests and a smoke test of app.js against a fake DOM.
func TestJavaScript(t *testing.T) {
	nodeOrSkip(t)
	files, err := filepath.Glob(filepath.Join("testdata", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.test.mjs found (err %v)", err)
	}
	runNode(t, append([]string{"--test", "--test-reporter=tap"}, files...)...)
}

package dashboard

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestJavaScript runs the Node tests in testdata/*.test.mjs: model.js unit
// tests and a smoke test of app.js against a fake DOM.
// Without node the test is skipped, except in CI (CI=true), where it fails.
func TestJavaScript(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node is not installed; CI must run the JavaScript tests")
		}
		t.Skip("node is not installed")
	}
	files, err := filepath.Glob(filepath.Join("testdata", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.test.mjs found (err %v)", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, append([]string{"--test", "--test-reporter=tap"}, files...)...)
	out, err := cmd.CombinedOutput()
	if err != nil || testing.Verbose() {
		t.Logf("%s %v:\n%s", node, cmd.Args[1:], out)
	}
	if err != nil {
		t.Fatalf("node tests failed: %v", err)
	}
}

package main

import (
	"os"
	"os/exec"
	"testing"
)

// needTool returns the path of an external program a test needs. Where it is
// missing the test is skipped, except in CI (CI=true), where a missing tool
// means a missing install step and fails the test.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed: .ci/run must install it", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return path
}

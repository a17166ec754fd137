package main

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

func TestRunBadArgs(t *testing.T) {
	for _, args := range [][]string{{"-nosuchflag"}, {"-runs", "0"}, {"extra"}} {
		if err := run(args, new(bytes.Buffer), new(bytes.Buffer)); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want errUsage", args, err)
		}
	}
	missing := filepath.Join(t.TempDir(), "nothing")
	var out bytes.Buffer
	if err := run([]string{"-before", missing}, &out, new(bytes.Buffer)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("run(-before %s) = %v, want a missing file", missing, err)
	}
	if out.Len() != 0 {
		t.Errorf("output %q for a missing binary", out.String())
	}
}

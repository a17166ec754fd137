package main

import (
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxArm64Size is the budget for the stripped arm64 binary.
const maxArm64Size = 8 << 20

// TestCrossBuild builds the Pi binaries with the Makefile's own targets
// (make arm64 armv6) and runs each with -version under qemu-user.
func TestCrossBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles twice")
	}
	makeBin := needTool(t, "make")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	const version = "v0.0.0-crosstest"
	cmd := exec.Command(makeBin, "--no-print-directory", "-C", root, "BINDIR="+dir, "VERSION="+version, "arm64", "armv6")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make arm64 armv6: %v\n%s", err, out)
	}

	for _, tc := range []struct {
		file, qemu string
		machine    elf.Machine
		settings   []string
	}{
		{"sensorcast-linux-arm64", "qemu-aarch64-static", elf.EM_AARCH64, []string{"GOARCH=arm64"}},
		{"sensorcast-linux-armv6", "qemu-arm-static", elf.EM_ARM, []string{"GOARCH=arm", "GOARM=6"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			bin := filepath.Join(dir, tc.file)
			fi, err := os.Stat(bin)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes (%.2f MiB)", tc.file, fi.Size(), float64(fi.Size())/(1<<20))
			if tc.machine == elf.EM_AARCH64 && fi.Size() >= maxArm64Size {
				t.Errorf("arm64 binary is %d bytes, budget is under %d", fi.Size(), maxArm64Size)
			}

			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tc.machine {
				t.Errorf("ELF machine %v, want %v", f.Machine, tc.machine)
			}
			if f.Section(".symtab") != nil {
				t.Error("binary is not stripped: it has a .symtab")
			}
			if f.Section(".interp") != nil {
				t.Error("binary is dynamically linked: it has an .interp")
			}
			info, err := buildinfo.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			var settings []string
			for _, s := range info.Settings {
				settings = append(settings, s.Key+"="+s.Value)
			}
			for _, want := range append(tc.settings, "CGO_ENABLED=0", "-trimpath=true") {
				if !strings.Contains(" "+strings.Join(settings, " ")+" ", " "+want+" ") {
					t.Errorf("build setting %s missing; settings: %v", want, settings)
				}
			}

			qemu := needTool(t, tc.qemu)
			out, err := exec.Command(qemu, bin, "-version").CombinedOutput()
			if err != nil {
				t.Fatalf("%s %s -version: %v\n%s", tc.qemu, tc.file, err, out)
			}
			if got, want := string(out), "sensorcast "+version+"\n"; got != want {
				t.Errorf("-version printed %q, want %q", got, want)
			}
		})
	}
}

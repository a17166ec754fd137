package main

import (
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// These tests check what deploy/rpi ships: the systemd unit, the .deb
// packages and install.sh.

// maxExposure is the target of `systemd-analyze security`: "OK" or better.
const maxExposure = 2.0

func deployDir(t *testing.T) string {
	return filepath.Join(moduleRoot(t), "deploy", "rpi")
}

// unitWithExec returns a copy of the unit whose ExecStart runs exe, so that
// systemd-analyze can check it on a machine where sensorcast is not installed.
func unitWithExec(t *testing.T, exe string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(deployDir(t), "sensorcast.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := strings.Replace(string(src), "ExecStart=/usr/bin/sensorcast", "ExecStart="+exe, 1)
	if unit == string(src) {
		t.Fatal("the unit has no ExecStart=/usr/bin/sensorcast")
	}
	path := filepath.Join(t.TempDir(), "sensorcast.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSystemdUnit(t *testing.T) {
	analyze := needTool(t, "systemd-analyze")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	unit := unitWithExec(t, exe)
	if out, err := exec.Command(analyze, "verify", unit).CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err := exec.Command(analyze, "security", "--offline=true", "--no-pager", unit).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for \S+: (\d+\.\d+) (\w+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	score, _ := strconv.ParseFloat(string(m[1]), 64)
	t.Logf("systemd-analyze security: exposure %.1f %s", score, m[2])
	if score > maxExposure {
		t.Errorf("exposure %.1f is above the target %.1f:\n%s", score, maxExposure, out)
	}

	// What the hardware needs must survive further hardening.
	src, _ := os.ReadFile(unit)
	for _, want := range []string{
		"User=sensorcast", "SupplementaryGroups=i2c gpio dialout", "StateDirectory=sensorcast",
		"ConfigurationDirectory=sensorcast", "ConfigurationDirectoryMode=0750", "DevicePolicy=closed", "DeviceAllow=char-i2c rw",
		"DeviceAllow=char-gpiochip rw", "DeviceAllow=char-ttyAMA rw", "DeviceAllow=char-ttyS rw", "Restart=on-failure",
		// Limits sized for a Pi Zero (512 MB): see the unit for the reasons.
		"MemoryHigh=96M", "MemoryMax=128M", "TasksMax=64", "LimitNOFILE=2048",
	} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(want) + `$`).Match(src) {
			t.Errorf("unit lacks %q", want)
		}
	}
	// No driver uses SPI or /dev/gpiomem: not granted.
	if regexp.MustCompile(`(?m)^(DeviceAllow=char-(spidev|bcm2835-gpiomem|rpi-gpiomem)|SupplementaryGroups=.*\bspi\b)`).Match(src) {
		t.Error("the unit grants SPI or /dev/gpiomem, which no driver uses")
	}
	if regexp.MustCompile(`(?m)^PrivateDevices=(yes|true|1)`).Match(src) {
		t.Error("PrivateDevices= hides the sensors' device nodes")
	}
}

// The configuration the package installs must load.
func TestDefaultConfig(t *testing.T) {
	if _, err := loadConfig(filepath.Join(deployDir(t), "default.toml")); err != nil {
		t.Fatal(err)
	}
}

func TestShellcheck(t *testing.T) {
	sc := needTool(t, "shellcheck")
	d := deployDir(t)
	files := []string{"install.sh", "mkdeb.sh", "debian/postinst", "debian/prerm", "debian/postrm"}
	for i, f := range files {
		files[i] = filepath.Join(d, f)
	}
	if out, err := exec.Command(sc, append([]string{"--shell=sh"}, files...)...).CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
}

func TestDebPackages(t *testing.T) {
	dir := crossBuild(t)
	dpkgDeb := needTool(t, "dpkg-deb")
	makeBin := needTool(t, "make")
	dist := t.TempDir()
	out, err := exec.Command(makeBin, "--no-print-directory", "-C", moduleRoot(t),
		"BINDIR="+dir, "DISTDIR="+dist, "VERSION="+crossVersion, "deb").CombinedOutput()
	if err != nil {
		t.Fatalf("make deb: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		arch    string
		machine elf.Machine
		goarm   string
	}{
		{"arm64", elf.EM_AARCH64, ""},
		{"armhf", elf.EM_ARM, "6"},
		{"armel", elf.EM_ARM, "6"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			deb := filepath.Join(dist, "sensorcast_0.0.0-crosstest_"+tc.arch+".deb")
			field := func(name string) string {
				out, err := exec.Command(dpkgDeb, "--field", deb, name).Output()
				if err != nil {
					t.Fatalf("dpkg-deb --field %s %s: %v", deb, name, err)
				}
				return strings.TrimSpace(string(out))
			}
			if got := field("Architecture"); got != tc.arch {
				t.Errorf("Architecture %q, want %q", got, tc.arch)
			}
			if got := field("Package") + " " + field("Version"); got != "sensorcast 0.0.0-crosstest" {
				t.Errorf("package %q", got)
			}

			out, err := exec.Command(dpkgDeb, "--contents", deb).Output()
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"-rwxr-xr-x root/root .* ./usr/bin/sensorcast",
				"-rw-r--r-- root/root .* ./lib/systemd/system/sensorcast.service",
				"-rw-r--r-- root/root .* ./lib/udev/rules.d/60-sensorcast.rules",
				"-rw-r--r-- root/root .* ./etc/sensorcast/sensorcast.toml",
				"./usr/share/doc/sensorcast/examples/sensorcast.toml",
			} {
				if !regexp.MustCompile(want).Match(out) {
					t.Errorf("contents lack %q:\n%s", want, out)
				}
			}

			ctrl := t.TempDir()
			if out, err := exec.Command(dpkgDeb, "--control", deb, ctrl).CombinedOutput(); err != nil {
				t.Fatalf("dpkg-deb --control: %v\n%s", err, out)
			}
			conffiles, _ := os.ReadFile(filepath.Join(ctrl, "conffiles"))
			if strings.TrimSpace(string(conffiles)) != "/etc/sensorcast/sensorcast.toml" {
				t.Errorf("conffiles = %q", conffiles)
			}
			for _, script := range []string{"postinst", "prerm", "postrm"} {
				fi, err := os.Stat(filepath.Join(ctrl, script))
				if err != nil || fi.Mode()&0o111 == 0 {
					t.Errorf("maintainer script %s missing or not executable: %v", script, err)
				}
			}

			files := t.TempDir()
			if out, err := exec.Command(dpkgDeb, "--extract", deb, files).CombinedOutput(); err != nil {
				t.Fatalf("dpkg-deb --extract: %v\n%s", err, out)
			}
			bin := filepath.Join(files, "usr", "bin", "sensorcast")
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != tc.machine {
				t.Errorf("binary for %v, want %v", f.Machine, tc.machine)
			}
			if tc.goarm != "" {
				info, err := buildinfo.ReadFile(bin)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.ContainsFunc(info.Settings, func(s debug.BuildSetting) bool { return s.Key == "GOARM" && s.Value == tc.goarm }) {
					t.Errorf("binary not built with GOARM=%s: %v", tc.goarm, info.Settings)
				}
			}
		})
	}
}

// TestInstallScript runs install.sh as a dry run into a temporary root:
// install, reinstall over an edited config, uninstall, purge, and bad input.
func TestInstallScript(t *testing.T) {
	sh := needTool(t, "sh")
	script := filepath.Join(deployDir(t), "install.sh")
	root := t.TempDir()
	bindir := t.TempDir()
	binary := filepath.Join(bindir, "sensorcast-linux-arm64")
	setBinary := func(content string) {
		os.WriteFile(binary, []byte(content), 0o755)
		sum := sha256.Sum256([]byte(content))
		os.WriteFile(filepath.Join(bindir, "SHA256SUMS"), []byte(hex.EncodeToString(sum[:])+"  sensorcast-linux-arm64\n"), 0o644)
	}
	setBinary("#!/bin/sh\necho sensorcast v9\n")
	run := func(args ...string) (string, error) {
		out, err := exec.Command(sh, append([]string{script}, args...)...).CombinedOutput()
		return string(out), err
	}
	mode := func(p string) os.FileMode {
		fi, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Fatalf("after install: %v", err)
		}
		return fi.Mode().Perm()
	}

	if out, err := run("--root", root, "--binary", binary); err != nil {
		t.Fatalf("install: %v\n%s", err, out)
	}
	if m := mode("usr/local/bin/sensorcast"); m != 0o755 {
		t.Errorf("binary mode %v", m)
	}
	unit, _ := os.ReadFile(filepath.Join(root, "etc/systemd/system/sensorcast.service"))
	if !strings.Contains(string(unit), "\nExecStart=/usr/local/bin/sensorcast -config") {
		t.Errorf("installed unit does not run /usr/local/bin/sensorcast:\n%s", unit)
	}
	mode("etc/udev/rules.d/60-sensorcast.rules")
	conf := filepath.Join(root, "etc/sensorcast/sensorcast.toml")
	want, _ := os.ReadFile(filepath.Join(deployDir(t), "default.toml"))
	if got, _ := os.ReadFile(conf); string(got) != string(want) {
		t.Errorf("installed config differs from default.toml")
	}

	// Again, over an edited config: idempotent, and the edit survives.
	os.WriteFile(conf, []byte("# mine\n"), 0o644)
	setBinary("#!/bin/sh\necho sensorcast v10\n")
	out, err := run("--root", root, "--binary", binary)
	if err != nil || !strings.Contains(out, "keeping") {
		t.Fatalf("reinstall: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(conf); string(got) != "# mine\n" {
		t.Errorf("reinstall overwrote the config: %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/sensorcast")); !strings.Contains(string(got), "v10") {
		t.Error("reinstall did not replace the binary")
	}

	if out, err := run("--uninstall", "--root", root); err != nil {
		t.Fatalf("uninstall: %v\n%s", err, out)
	}
	for _, p := range []string{"usr/local/bin/sensorcast", "etc/systemd/system/sensorcast.service", "etc/udev/rules.d/60-sensorcast.rules"} {
		if _, err := os.Stat(filepath.Join(root, p)); !os.IsNotExist(err) {
			t.Errorf("uninstall left %s", p)
		}
	}
	if _, err := os.Stat(conf); err != nil {
		t.Errorf("uninstall without --purge removed the config: %v", err)
	}
	if out, err := run("--uninstall", "--purge", "--root", root); err != nil {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	if _, err := os.Stat(conf); !os.IsNotExist(err) {
		t.Error("purge kept the config")
	}

	// A binary that SHA256SUMS does not vouch for is refused.
	os.WriteFile(binary, []byte("#!/bin/sh\necho tampered\n"), 0o755)
	if out, err := run("--root", root, "--binary", binary); err == nil || !strings.Contains(out, "does not match") {
		t.Errorf("tampered binary: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(bindir, "SHA256SUMS"))
	if out, err := run("--root", root, "--binary", binary); err == nil || !strings.Contains(out, "SHA256SUMS not found") {
		t.Errorf("binary without SHA256SUMS: %v\n%s", err, out)
	}
	for _, bad := range [][]string{
		{"--root", root, "--bogus"},
		{"--root", root, "--binary", filepath.Join(root, "missing")},
		{"--root"},
	} {
		out, err := run(bad...)
		if err == nil || !strings.HasPrefix(out, "install.sh: ") {
			t.Errorf("install.sh %q: %v, %q; want a clear error", bad, err, out)
		}
	}
}

package sensors

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite README.md's driver table from the driver descriptions")

// The README's driver table is the one DriverTable derives from the
// driver descriptions: a driver added, renamed or given an option without
// its row fails here.
func TestDriverTableREADME(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want := DriverTable()
	head, _, _ := strings.Cut(want, "\n")
	_, rest, ok := strings.Cut(string(b), head+"\n")
	if !ok {
		t.Fatalf("README.md has no driver table starting with %q", head)
	}
	got, _, _ := strings.Cut(head+"\n"+rest, "\n\n")
	if *updateREADME && got+"\n" != want {
		out := strings.Replace(string(b), got+"\n", want, 1)
		if err := os.WriteFile("../README.md", []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if got+"\n" != want {
		t.Errorf("README.md's driver table differs from the driver descriptions; want:\n%s\ngot:\n%s", want, got)
	}
}

// Every option key a driver lists is one Validate knows, and every key
// Validate knows belongs to some driver.
func TestDriverOptions(t *testing.T) {
	var known []string
	for _, k := range optionKeys {
		known = append(known, k.key)
		if len(driversWith(k.key)) == 0 {
			t.Errorf("option %q belongs to no driver", k.key)
		}
	}
	for _, n := range Drivers() {
		d := registry[n]
		for _, o := range d.options {
			if !slices.Contains(known, o) {
				t.Errorf("driver %s: option %q is not in optionKeys", n, o)
			}
		}
		if d.identify != nil && len(d.scanAddrs) == 0 {
			t.Errorf("driver %s: identify without scan addresses", n)
		}
	}
}

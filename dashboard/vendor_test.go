package dashboard

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The chart library, uPlot, is committed under static/vendor/ so that a plain
// go build or go install embeds the same page as make. These tests prove that
// the committed files are byte for byte what the npm package pinned by
// web/package-lock.json ships.
//
// The chain, with no network at test time: the lockfile's "integrity" is the
// SHA-512 of the package's tarball; web/vendor.sum records that integrity and,
// for every vendored file, the SHA-512 of the file inside that tarball. The
// sums were written once from the tarball itself, after checking its digest
// against the lockfile. When node_modules (npm ci) or the tarball is at hand,
// the files are compared with it directly as well.
//
// To move to another uPlot version (or refresh the files):
//
//	cd dashboard/web && npm install --save-exact uplot@VERSION && npm pack uplot@VERSION
//	cd .. && go test -run '^TestVendoredUPlot$' . -uplot-tgz web/uplot-VERSION.tgz -update
//	rm web/uplot-VERSION.tgz
//
// -update checks the tarball against the lockfile's integrity, copies the
// files out of it into static/vendor/ and rewrites web/vendor.sum.
var (
	uplotTarball = flag.String("uplot-tgz", "", "uPlot's npm tarball (npm pack uplot@VERSION) to check the vendored files against")
	uplotUpdate  = flag.Bool("update", false, "with -uplot-tgz: copy the vendored files out of the tarball and rewrite web/vendor.sum")
)

// vendored maps each file under static/vendor/ to its path in uPlot's npm
// tarball.
var vendored = map[string]string{
	"uPlot.iife.min.js": "package/dist/uPlot.iife.min.js",
	"uPlot.min.css":     "package/dist/uPlot.min.css",
	"uPlot.LICENSE.txt": "package/LICENSE",
}

const vendorSum = "web/vendor.sum"

// lockedUPlot returns the version and integrity that web/package-lock.json
// pins for uplot.
func lockedUPlot(t *testing.T) (version, integrity string) {
	t.Helper()
	b, err := os.ReadFile("web/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	var lock struct {
		Packages map[string]struct {
			Version   string `json:"version"`
			Integrity string `json:"integrity"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		t.Fatalf("web/package-lock.json: %v", err)
	}
	p, ok := lock.Packages["node_modules/uplot"]
	if !ok || p.Version == "" || !strings.HasPrefix(p.Integrity, "sha512-") {
		t.Fatalf("web/package-lock.json pins no uplot with a sha512 integrity: %+v", p)
	}
	return p.Version, p.Integrity
}

// sri is a Subresource Integrity string, the form npm's lockfile uses.
func sri(b []byte) string {
	sum := sha512.Sum512(b)
	return "sha512-" + base64.StdEncoding.EncodeToString(sum[:])
}

// vendorSums is web/vendor.sum parsed: the tarball it was made from and the
// digest of each vendored file.
type vendorSums struct {
	version, integrity string
	files              map[string]string
}

// parseVendorSum reads the format writeVendorSum writes: comment lines, one
// "tarball uplot VERSION INTEGRITY" line, then one "SRI NAME" line per file.
func parseVendorSum(r io.Reader) (vendorSums, error) {
	s := vendorSums{files: map[string]string{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "tarball" && f[1] == "uplot" && s.version == "":
			s.version, s.integrity = f[2], f[3]
		case len(f) == 2 && strings.HasPrefix(f[0], "sha512-") && s.files[f[1]] == "":
			s.files[f[1]] = f[0]
		default:
			return s, fmt.Errorf("line %d: %q is neither the one tarball line nor a new file's sum", n, line)
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	if s.version == "" {
		return s, errors.New("no tarball line")
	}
	return s, nil
}

func writeVendorSum(w io.Writer, version, integrity string, files map[string][]byte) {
	fmt.Fprintf(w, "# uPlot's files under static/vendor/, as the npm tarball that\n")
	fmt.Fprintf(w, "# package-lock.json pins ships them (see vendor_test.go to refresh).\n")
	fmt.Fprintf(w, "tarball uplot %s %s\n", version, integrity)
	for _, name := range slices.Sorted(maps.Keys(vendored)) {
		fmt.Fprintf(w, "%s %s\n", sri(files[name]), name)
	}
}

// tarballFiles checks an npm tarball against integrity and returns the
// vendored files from it, keyed by their name under static/vendor/.
func tarballFiles(tgz []byte, integrity string) (map[string][]byte, error) {
	if got := sri(tgz); got != integrity {
		return nil, fmt.Errorf("the tarball's digest is %s, the lockfile pins %s", got, integrity)
	}
	zr, err := gzip.NewReader(bytes.NewReader(tgz))
	if err != nil {
		return nil, err
	}
	want := map[string]string{}
	for name, p := range vendored {
		want[p] = name
	}
	files := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if name, ok := want[h.Name]; ok && h.Typeflag == tar.TypeReg {
			if files[name], err = io.ReadAll(io.LimitReader(tr, 4<<20)); err != nil {
				return nil, err
			}
		}
	}
	for name, p := range vendored {
		if files[name] == nil {
			return nil, fmt.Errorf("the tarball has no %s", p)
		}
	}
	return files, nil
}

// TestVendoredUPlot checks static/vendor/ against the lockfile: through
// web/vendor.sum always, and directly against node_modules/uplot or a given
// tarball when they are there.
func TestVendoredUPlot(t *testing.T) {
	version, integrity := lockedUPlot(t)

	if *uplotTarball != "" {
		tgz, err := os.ReadFile(*uplotTarball)
		if err != nil {
			t.Fatal(err)
		}
		files, err := tarballFiles(tgz, integrity)
		if err != nil {
			t.Fatalf("%s: %v", *uplotTarball, err)
		}
		if *uplotUpdate {
			for name, b := range files {
				if err := os.WriteFile(filepath.Join("static/vendor", name), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var buf bytes.Buffer
			writeVendorSum(&buf, version, integrity, files)
			if err := os.WriteFile(vendorSum, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("static/vendor/ and %s written from uplot %s", vendorSum, version)
		}
		for name, b := range files {
			got, err := os.ReadFile(filepath.Join("static/vendor", name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, b) {
				t.Errorf("static/vendor/%s differs from %s in the tarball", name, vendored[name])
			}
		}
	} else if *uplotUpdate {
		t.Fatal("-update needs -uplot-tgz: the tarball the lockfile pins (npm pack uplot@" + version + ")")
	}

	f, err := os.Open(vendorSum)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sums, err := parseVendorSum(f)
	if err != nil {
		t.Fatalf("%s: %v", vendorSum, err)
	}
	if sums.version != version || sums.integrity != integrity {
		t.Fatalf("%s was made from uplot %s %s but the lockfile pins %s %s: refresh the vendored files (see vendor_test.go)",
			vendorSum, sums.version, sums.integrity, version, integrity)
	}
	for name := range vendored {
		want, ok := sums.files[name]
		if !ok {
			t.Errorf("%s has no sum for %s", vendorSum, name)
			continue
		}
		b, err := os.ReadFile(filepath.Join("static/vendor", name))
		if err != nil {
			t.Errorf("static/vendor/%s: %v", name, err)
			continue
		}
		if got := sri(b); got != want {
			t.Errorf("static/vendor/%s is %s, but uplot %s ships %s", name, got, version, want)
		}
		// What the binary embeds is that file, too.
		if e, err := static.ReadFile("static/vendor/" + name); err != nil || !bytes.Equal(e, b) {
			t.Errorf("the embedded static/vendor/%s is not the file on disk (err %v)", name, err)
		}
	}
	for name := range sums.files {
		if _, ok := vendored[name]; !ok {
			t.Errorf("%s lists %s, which is not vendored", vendorSum, name)
		}
	}

	// After npm ci (make used to need it), node_modules is the package
	// itself: compare the files directly.
	mod := "web/node_modules/uplot"
	if b, err := os.ReadFile(filepath.Join(mod, "package.json")); err == nil {
		var pkg struct{ Version string }
		if json.Unmarshal(b, &pkg) == nil && pkg.Version == version {
			for name, p := range vendored {
				want, err := os.ReadFile(filepath.Join(mod, strings.TrimPrefix(p, "package/")))
				if err != nil {
					t.Error(err)
					continue
				}
				got, _ := os.ReadFile(filepath.Join("static/vendor", name))
				if !bytes.Equal(got, want) {
					t.Errorf("static/vendor/%s differs from %s", name, filepath.Join(mod, strings.TrimPrefix(p, "package/")))
				}
			}
		} else {
			t.Logf("%s holds uplot %q, not the locked %s: not compared", mod, pkg.Version, version)
		}
	}

	// Every build has the charts now, go install included.
	if !HasCharts() {
		t.Error("HasCharts is false with the files committed")
	}
}

// TestVendorSumErrors: a damaged vendor.sum is refused with the line, never
// read as a shorter list.
func TestVendorSumErrors(t *testing.T) {
	good := "# c\ntarball uplot 1.6.32 sha512-AA==\nsha512-BB== uPlot.min.css\n"
	s, err := parseVendorSum(strings.NewReader(good))
	if err != nil || s.version != "1.6.32" || s.integrity != "sha512-AA==" || s.files["uPlot.min.css"] != "sha512-BB==" {
		t.Fatalf("good file: %+v, %v", s, err)
	}
	for name, text := range map[string]string{
		"no tarball":     "sha512-BB== uPlot.min.css\n",
		"two tarballs":   "tarball uplot 1 sha512-A\ntarball uplot 2 sha512-B\n",
		"duplicate file": "tarball uplot 1 sha512-A\nsha512-B x\nsha512-C x\n",
		"md5":            "tarball uplot 1 sha512-A\nmd5-B x\n",
		"extra field":    "tarball uplot 1 sha512-A\nsha512-B x y\n",
	} {
		if _, err := parseVendorSum(strings.NewReader(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A tarball whose digest is not the lockfile's is refused before its
	// files are read.
	if _, err := tarballFiles([]byte("not a tarball"), "sha512-KIMV"); err == nil || !strings.Contains(err.Error(), "lockfile pins") {
		t.Errorf("wrong tarball: %v", err)
	}
}

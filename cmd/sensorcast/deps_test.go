package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The import rules of sensorcast, written down so that a wrong import fails
// the test suite. They keep the Pi binary's parts independent: the WebSocket
// server and the dashboard know nothing of sensors, the bridge builds on any
// machine, and only the binary itself wires the parts together.
//
// DO NOT CHANGE THESE RULES TO FIX A BUILD: change the import instead, or
// change the design on purpose and say why in the package docs.
const mod = "github.com/sensorcast/sensorcast"

// A rule says which non-standard packages the packages under a prefix may
// import (directly or not). An allowed entry ending in "/..." allows a tree.
type rule struct {
	pkgs    string // a package, or a tree "x/..."
	allowed []string
	why     string
}

var depsRules = []rule{
	{mod + "/sensors/reading", nil, "the reading type is the leaf of the graph: standard library only"},
	{mod + "/ws/...", []string{mod + "/ws/..."}, "ws moves bytes only: standard library only"},
	{mod + "/dashboard/...", []string{mod + "/dashboard/..."}, "the dashboard knows the WebSocket only as a URL path: standard library only"},
	{mod + "/cmd/sensorcast/internal/hub", []string{mod + "/sensors/reading"}, "the hub sees only readings; its sinks are interfaces"},
	{mod + "/cmd/sensorcast/internal/fleet", []string{mod + "/cmd/sensorcast/internal/hub", mod + "/sensors/reading", "github.com/eclipse/paho.mqtt.golang/...", "golang.org/x/net/...", "golang.org/x/sync/...", "github.com/gorilla/websocket/..."},
		"the fleet mirrors nodes into hubs from MQTT: the hub, readings and paho only; the WebSocket server and HTTP are wired in by the command"},
	{mod + "/cmd/sensorcast/internal/alert", []string{mod + "/sensors/reading", mod + "/cmd/sensorcast/internal/access"},
		"alert rules see readings and statuses as the hub's sink and keep their state with access's private-file helpers; notifications are plain net/http"},
	{mod + "/cmd/sensorcast/internal/access", nil, "admission sees only HTTP requests and connections: standard library only"},
	{mod + "/cmd/sensorcast/internal/metrics", nil, "the exposition format knows nothing of what it reports: standard library only"},
	{mod + "/bridge/...", []string{mod + "/bridge/...", mod + "/sensors/reading", "github.com/eclipse/paho.mqtt.golang/...", "golang.org/x/net/...", "golang.org/x/sync/...", "github.com/gorilla/websocket/..."},
		"the bridge builds and tests on any machine: readings and paho (with its own dependencies) only, never sensors or periph"},
	{mod + "/sensors/...", []string{mod + "/sensors/...", "periph.io/x/...", "github.com/BurntSushi/toml/...", "golang.org/x/sys/..."},
		"sensors never imports ws, bridge, the hub or the dashboard"},
}

// parts are the top-level pieces that only a command may combine.
var parts = []string{mod + "/sensors", mod + "/ws", mod + "/bridge", mod + "/dashboard"}

func matches(pattern, path string) bool {
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == tree || strings.HasPrefix(path, tree+"/")
	}
	return path == pattern
}

// checkDeps returns one error for each broken rule. deps maps each package of
// the module to its transitive non-standard dependencies.
func checkDeps(deps map[string][]string) []error {
	var errs []error
	pkgs := make([]string, 0, len(deps))
	for p := range deps {
		pkgs = append(pkgs, p)
	}
	slices.Sort(pkgs)
	for _, p := range pkgs {
		for _, r := range depsRules {
			if !matches(r.pkgs, p) {
				continue
			}
			for _, d := range deps[p] {
				if !slices.ContainsFunc(r.allowed, func(a string) bool { return matches(a, d) }) {
					errs = append(errs, fmt.Errorf("%s imports %s: %s", p, d, r.why))
				}
			}
			break // the first matching rule is the one that applies
		}
		if strings.HasPrefix(p, mod+"/cmd/") {
			continue
		}
		// The reading type is shared by all; it does not count as sensors.
		used := make(map[string]bool)
		for _, d := range append([]string{p}, deps[p]...) {
			for _, part := range parts {
				if matches(part+"/...", d) && d != mod+"/sensors/reading" {
					used[part] = true
				}
			}
		}
		if len(used) > 1 {
			errs = append(errs, fmt.Errorf("%s combines %d of sensors, ws, bridge and dashboard: only a command may", p, len(used)))
		}
	}
	return errs
}

// moduleDeps lists every package of the module with its transitive
// dependencies outside the standard library.
func moduleDeps(t *testing.T) map[string][]string {
	t.Helper()
	std := make(map[string]bool)
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		path, isStd, _ := strings.Cut(sc.Text(), " ")
		std[path] = isStd == "true"
	}
	out, err = exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}", mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := make(map[string][]string)
	sc = bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		deps[f[0]] = nil
		for _, d := range f[1:] {
			if !std[d] {
				deps[f[0]] = append(deps[f[0]], d)
			}
		}
	}
	return deps
}

func TestDependencyRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	deps := moduleDeps(t)
	for _, p := range []string{mod + "/ws", mod + "/sensors", mod + "/sensors/reading", mod + "/dashboard", mod + "/cmd/sensorcast/internal/hub", mod + "/cmd/sensorcast/internal/fleet"} {
		if _, ok := deps[p]; !ok {
			t.Errorf("go list did not report %s", p)
		}
	}
	for _, err := range checkDeps(deps) {
		t.Error(err)
	}
}

// TestDependencyRulesCatch shows that each kind of forbidden import is caught.
func TestDependencyRulesCatch(t *testing.T) {
	bad := map[string][]string{
		mod + "/ws":                            {mod + "/sensors/reading"},
		mod + "/dashboard":                     {mod + "/ws"},
		mod + "/sensors/reading":               {"periph.io/x/conn/v3/physic"},
		mod + "/cmd/sensorcast/internal/hub":   {mod + "/ws"},
		mod + "/cmd/sensorcast/internal/fleet": {mod + "/ws", mod + "/bridge"},
		mod + "/bridge":                        {mod + "/sensors", "periph.io/x/conn/v3"},
		mod + "/sensors":                       {mod + "/ws"},
	}
	errs := checkDeps(bad)
	for p := range bad {
		if !slices.ContainsFunc(errs, func(err error) bool { return strings.HasPrefix(err.Error(), p+" imports") }) {
			t.Errorf("no error for the forbidden imports of %s; got %v", p, errs)
		}
	}
	good := map[string][]string{
		mod + "/ws":             {mod + "/ws/internal/frame"},
		mod + "/sensors":        {mod + "/sensors/reading", "periph.io/x/conn/v3"},
		mod + "/bridge":         {mod + "/sensors/reading", "github.com/eclipse/paho.mqtt.golang"},
		mod + "/cmd/sensorcast": {mod + "/ws", mod + "/sensors", mod + "/dashboard"},
	}
	if errs := checkDeps(good); len(errs) > 0 {
		t.Errorf("allowed imports reported: %v", errs)
	}
}

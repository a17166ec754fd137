package alert

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCond(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Cond
	}{
		{"greenhouse.temperature < 2", Cond{Kind: Threshold, Sensor: "greenhouse", Value: "temperature", Op: "<", Number: 2}},
		{"  server room.temperature>=30.5 ", Cond{Kind: Threshold, Sensor: "server room", Value: "temperature", Op: ">=", Number: 30.5}},
		{"a.b.c != -1e3", Cond{Kind: Threshold, Sensor: "a.b", Value: "c", Op: "!=", Number: -1000}},
		{"door.state == 1", Cond{Kind: Threshold, Sensor: "door", Value: "state", Op: "==", Number: 1}},
		{"x.y <= 0", Cond{Kind: Threshold, Sensor: "x", Value: "y", Op: "<=", Number: 0}},
		{"x.y > 0", Cond{Kind: Threshold, Sensor: "x", Value: "y", Op: ">", Number: 0}},
		{"greenhouse failing", Cond{Kind: Failing, Sensor: "greenhouse"}},
		{"the pump stale", Cond{Kind: Stale, Sensor: "the pump"}},
	} {
		got, err := ParseCond(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCond(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if again, err := ParseCond(got.String()); err != nil || again != got {
			t.Errorf("ParseCond(%q.String() = %q) = %+v, %v", tc.in, got.String(), again, err)
		}
	}
}

func TestParseCondErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "no operator"},
		{"greenhouse.temperature", "no operator"},
		{"greenhouse.temperature => 2", `bad operator "=>"`},
		{"greenhouse.temperature =< 2", `bad operator "=<"`},
		{"greenhouse.temperature = 2", `bad operator "="`},
		{"greenhouse.temperature <> 2", `bad operator "<>"`},
		{"greenhouse.temperature < two", `"two" is not a number`},
		{"greenhouse.temperature < NaN", `"NaN" is not a number`},
		{"greenhouse.temperature < 1e300", `"1e300" is not a number`},
		{"greenhouse.temperature <", "bad operator"},
		{"temperature < 2", `"temperature" is not <sensor>.<value>`},
		{"greenhouse. < 2", `is not <sensor>.<value>`},
		{" failing", "no operator"},
		{"greenhouse broken", "no operator"},
	} {
		_, err := ParseCond(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrSyntax) {
			t.Errorf("ParseCond(%q) = %v; want an error with %q", tc.in, err, tc.want)
		}
	}
}

func TestCompareMilli(t *testing.T) {
	c := Cond{Op: "==", Number: 0.1}
	if !c.compare(100) || c.compare(101) {
		t.Error("== 0.1 is not exact in milli-units")
	}
	c = Cond{Op: "<", Number: 2}
	if !c.compare(1999) || c.compare(2000) {
		t.Error("< 2 wrong at the edge")
	}
}

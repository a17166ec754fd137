package main

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestParseSteps(t *testing.T) {
	got, err := parseSteps(" 2000, 4000,8000,")
	if err != nil || !slices.Equal(got, []int{2000, 4000, 8000}) {
		t.Fatalf("parseSteps = %v, %v", got, err)
	}
	if got, err := parseSteps(""); err != nil || len(got) != 0 {
		t.Fatalf("empty steps = %v, %v", got, err)
	}
	for _, bad := range []string{"x", "0", "-5", "4000,2000", "1000,1000"} {
		if _, err := parseSteps(bad); err == nil {
			t.Errorf("parseSteps(%q) accepted", bad)
		}
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{{"-steps", "3,2"}, {"-qos", "2"}, {"-nodes", "0"}, {"extra"}, {"-nope"}} {
		var out, errb bytes.Buffer
		if err := run(args, &out, &errb); !errors.Is(err, errUsage) {
			t.Errorf("run(%q) = %v, want errUsage", args, err)
		}
		if errb.Len() == 0 {
			t.Errorf("run(%q) said nothing", args)
		}
	}
}

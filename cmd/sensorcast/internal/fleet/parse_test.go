package fleet

import "testing"

// A node's history may give runs with a stride (a sensor read less often
// than the step); malformed runs are refused.
func TestParseHistoryRuns(t *testing.T) {
	p := []byte(`{"type":"history","v":2,"step_ms":1000,"sensors":[{"sensor":"host","runs":[[10000,3,2000],[17000,1]],"values":{"load":{"unit":"","v":[1,2,3,4]}}}]}`)
	got, err := parseHistory(p)
	if err != nil {
		t.Fatal(err)
	}
	var ms []int64
	for _, r := range got["host"] {
		ms = append(ms, r.Time.UnixMilli())
	}
	if len(ms) != 4 || ms[0] != 10000 || ms[1] != 12000 || ms[2] != 14000 || ms[3] != 17000 {
		t.Errorf("times %v, want 10000 12000 14000 17000", ms)
	}
	for _, bad := range []string{`[[0,2,1500]]`, `[[0,2,0]]`, `[[0]]`, `[[0,1,1000,5]]`, `[[0,-1]]`} {
		p := []byte(`{"type":"history","v":2,"step_ms":1000,"sensors":[{"sensor":"s","runs":` + bad + `,"values":{}}]}`)
		if _, err := parseHistory(p); err == nil {
			t.Errorf("runs %s accepted", bad)
		}
	}
}

package reading_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

func TestReadingAdd(t *testing.T) {
	var r reading.Reading
	r.Reset("pi", "x", time.Unix(1, 0))
	for i := range reading.MaxValues {
		if err := r.Add(fmt.Sprint("v", i), reading.None, int64(i)); err != nil {
			t.Fatalf("Add %d: %v", i, err)
		}
	}
	if err := r.Add("one_too_many", reading.None, 1); err == nil || !strings.Contains(err.Error(), `"one_too_many"`) {
		t.Errorf("Add to a full Reading = %v", err)
	}
	if r.Len() != reading.MaxValues || r.At(3).Milli != 3 || len(r.Values()) != reading.MaxValues {
		t.Errorf("Len %d, At(3) %v", r.Len(), r.At(3))
	}
	if v, ok := r.Lookup("v7"); !ok || v.Milli != 7 {
		t.Errorf("Lookup(v7) = %v, %v", v, ok)
	}
	if _, ok := r.Lookup("one_too_many"); ok {
		t.Error("a rejected value was stored")
	}

	r.Reset("pi", "y", time.Unix(2, 0))
	if r.Len() != 0 || r.Sensor != "y" || !r.Time.Equal(time.Unix(2, 0)) {
		t.Errorf("after Reset: %+v", r)
	}
	if _, ok := r.Lookup("v0"); ok {
		t.Error("Lookup found a value from before Reset")
	}
	if got := string(r.AppendJSON(nil)); !strings.HasSuffix(got, `"values":{}}`) {
		t.Errorf("empty Reading: %s", got)
	}
}

func TestReadingAtPanics(t *testing.T) {
	var r reading.Reading
	r.Add("a", reading.None, 1)
	for _, i := range []int{-1, 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("At(%d) of a 1-value Reading did not panic", i)
				}
			}()
			r.At(i)
		}()
	}
}

func TestValueFloat(t *testing.T) {
	if f := (reading.Value{Milli: -21375}).Float(); f != -21.375 {
		t.Errorf("Float = %v", f)
	}
}

package fleet

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// parseReading decodes a reading message (reading.AppendJSON's shape) into
// r, keeping the order of its values. The device is left to the caller.
func parseReading(p []byte, r *reading.Reading) error {
	d := json.NewDecoder(bytes.NewReader(p))
	d.UseNumber()
	if err := expectDelim(d, '{'); err != nil {
		return err
	}
	var (
		typ, sensor, tstr string
		ts                int64
		haveTS            bool
		vals              []reading.Value
	)
	for d.More() {
		key, err := stringToken(d)
		if err != nil {
			return err
		}
		switch key {
		case "type":
			typ, err = stringToken(d)
		case "sensor":
			sensor, err = stringToken(d)
		case "time":
			tstr, err = stringToken(d)
		case "ts":
			var n json.Number
			if err = d.Decode(&n); err == nil {
				ts, err = n.Int64()
				haveTS = err == nil
			}
		case "values":
			vals, err = parseValues(d)
		default:
			var skip json.RawMessage
			err = d.Decode(&skip)
		}
		if err != nil {
			return fmt.Errorf("%q: %w", key, err)
		}
	}
	if err := expectDelim(d, '}'); err != nil {
		return err
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("data after the object")
	}
	switch {
	case typ != "reading":
		return fmt.Errorf("type %q, want \"reading\"", typ)
	case sensor == "":
		return errors.New("no sensor")
	case len(vals) == 0:
		return errors.New("no values")
	}
	var t time.Time
	if haveTS {
		t = time.UnixMilli(ts)
	} else {
		var err error
		if t, err = time.Parse(time.RFC3339Nano, tstr); err != nil {
			return errors.New("no valid ts or time")
		}
	}
	r.Reset("", sensor, t)
	for _, v := range vals {
		if err := r.Add(v.Name, v.Unit, v.Milli); err != nil {
			return err
		}
	}
	return nil
}

// parseValues reads {"name":{"v":1.5,"unit":"°C"},…} in order.
func parseValues(d *json.Decoder) ([]reading.Value, error) {
	if err := expectDelim(d, '{'); err != nil {
		return nil, err
	}
	var vals []reading.Value
	for d.More() {
		name, err := stringToken(d)
		if err != nil {
			return nil, err
		}
		var v struct {
			V    *json.Number `json:"v"`
			Unit string       `json:"unit"`
		}
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("value %q: %w", name, err)
		}
		if name == "" || v.V == nil {
			return nil, fmt.Errorf("value %q: no name or no v", name)
		}
		f, err := v.V.Float64()
		if err != nil || f > 9e15 || f < -9e15 {
			return nil, fmt.Errorf("value %q: %v out of range", name, v.V)
		}
		if len(vals) == reading.MaxValues {
			return nil, fmt.Errorf("more than %d values", reading.MaxValues)
		}
		vals = append(vals, reading.Value{Name: name, Unit: reading.Unit(v.Unit), Milli: reading.Milli(f)})
	}
	return vals, expectDelim(d, '}')
}

func expectDelim(d *json.Decoder, want json.Delim) error {
	t, err := d.Token()
	if err != nil {
		return err
	}
	if t != want {
		return fmt.Errorf("got %v, want %v", t, want)
	}
	return nil
}

func stringToken(d *json.Decoder) (string, error) {
	t, err := d.Token()
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", fmt.Errorf("got %v, want a string", t)
	}
	return s, nil
}

// Info is a node's retained info message, <prefix>/<device>/info, as the
// bridge publishes it (see bridge.Info).
type Info struct {
	Type    string       `json:"type"` // "info"
	Device  string       `json:"device"`
	Version string       `json:"version"`
	URL     string       `json:"url,omitempty"`
	Sensors []InfoSensor `json:"sensors"`
}

// InfoSensor is one sensor of an Info.
type InfoSensor struct {
	Sensor     string      `json:"sensor"`
	IntervalMS int64       `json:"interval_ms"`
	MaxGapMS   int64       `json:"max_gap_ms"`
	Values     []InfoValue `json:"values,omitempty"`
}

// InfoValue is one value of an InfoSensor.
type InfoValue struct {
	Name string `json:"name"`
	Unit string `json:"unit"`
}

func parseInfo(p []byte) (*Info, error) {
	var in Info
	d := json.NewDecoder(bytes.NewReader(p))
	if err := d.Decode(&in); err != nil {
		return nil, err
	}
	if in.Type != "info" {
		return nil, fmt.Errorf("type %q, want \"info\"", in.Type)
	}
	for _, s := range in.Sensors {
		if s.Sensor == "" || s.IntervalMS < 0 || s.MaxGapMS < 0 {
			return nil, fmt.Errorf("sensor %q: no name or a negative interval", s.Sensor)
		}
	}
	return &in, nil
}

// history is the history message, v 2, as a node's /api/history sends it.
type history struct {
	Type    string `json:"type"`
	V       int    `json:"v"`
	StepMS  int64  `json:"step_ms"`
	Sensors []struct {
		Sensor string    `json:"sensor"`
		Runs   [][]int64 `json:"runs"`
		Values map[string]struct {
			Unit string         `json:"unit"`
			V    []*json.Number `json:"v"`
		} `json:"values"`
	} `json:"sensors"`
}

// parseHistory turns a history message into points per sensor, each a
// reading at its point's time.
func parseHistory(p []byte) (map[string][]reading.Reading, error) {
	var h history
	if err := json.Unmarshal(p, &h); err != nil {
		return nil, err
	}
	if h.Type != "history" || h.V != 2 || h.StepMS <= 0 {
		return nil, fmt.Errorf("not a history message v 2 (type %q, v %d, step_ms %d)", h.Type, h.V, h.StepMS)
	}
	out := make(map[string][]reading.Reading, len(h.Sensors))
	for _, s := range h.Sensors {
		var times []int64
		for _, run := range s.Runs {
			// [start, count] or [start, count, every_ms].
			every := h.StepMS
			if len(run) == 3 {
				every = run[2]
			}
			if len(run) < 2 || len(run) > 3 || run[1] < 0 || len(times)+int(run[1]) > 1<<20 || every <= 0 || every%h.StepMS != 0 {
				return nil, fmt.Errorf("sensor %q: bad run %v", s.Sensor, run)
			}
			for j := range run[1] {
				times = append(times, run[0]+j*every)
			}
		}
		pts := make([]reading.Reading, len(times))
		for i, t := range times {
			pts[i].Reset("", s.Sensor, time.UnixMilli(t))
		}
		for name, v := range s.Values {
			if len(v.V) != len(times) {
				return nil, fmt.Errorf("sensor %q value %q: %d points for %d times", s.Sensor, name, len(v.V), len(times))
			}
			for i, x := range v.V {
				if x == nil {
					continue
				}
				f, err := x.Float64()
				if err != nil {
					return nil, fmt.Errorf("sensor %q value %q: %w", s.Sensor, name, err)
				}
				pts[i].Add(name, reading.Unit(v.Unit), reading.Milli(f))
			}
		}
		out[s.Sensor] = pts
	}
	return out, nil
}

package reading_test

import (
	"fmt"
	"time"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// A source fills a Reading it is given; a consumer appends it as JSON to a
// buffer it reuses. The output pins sensorcast's wire format.
func ExampleReading_AppendJSON() {
	var r reading.Reading
	r.Reset("pi", "bme280", time.Date(2026, 11, 26, 19, 33, 27, 120_000_000, time.UTC))
	r.Add("temperature", reading.Celsius, 21375)
	r.Add("humidity", reading.Percent, 48200)
	r.Add("pressure", reading.HPa, 1013250)
	r.Add("load1", reading.None, -5)

	var buf []byte
	buf = r.AppendJSON(buf[:0])
	fmt.Printf("%s\n", buf)
	// Output:
	// {"type":"reading","device":"pi","sensor":"bme280","time":"2026-11-26T19:33:27.120Z","ts":1795721607120,"values":{"temperature":{"v":21.375,"unit":"°C"},"humidity":{"v":48.2,"unit":"%"},"pressure":{"v":1013.25,"unit":"hPa"},"load1":{"v":-0.005,"unit":""}}}
}

func ExampleMilli() {
	fmt.Println(reading.Milli(21.375), reading.Milli(-0.0005), reading.Milli(0.0004))
	// Output: 21375 -1 0
}

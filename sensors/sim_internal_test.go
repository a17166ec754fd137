package sensors

import (
	"math"
	"testing"
)

func TestWave(t *testing.T) {
	const period, amp = simDay, 10000
	for phase := int64(0); phase < period; phase++ {
		got := wave(phase, period, amp)
		want := amp * math.Sin(2*math.Pi*float64(phase)/period)
		if math.Abs(float64(got)-want) > 0.002*amp {
			t.Fatalf("wave(%d) = %d, want %.1f within 0.2%%", phase, got, want)
		}
	}
	for _, tc := range []struct{ phase, want int64 }{{0, 0}, {period / 4, amp}, {period / 2, 0}, {3 * period / 4, -amp}} {
		if got := wave(tc.phase, period, amp); got != tc.want {
			t.Errorf("wave(%d) = %d, want %d", tc.phase, got, tc.want)
		}
	}
}

func TestRoundTo(t *testing.T) {
	for _, tc := range []struct{ v, res, want int64 }{
		{21374, 10, 21370}, {21375, 10, 21380}, {-21375, 10, -21380}, {49, 100, 0}, {50, 100, 100}, {0, 10, 0},
	} {
		if got := roundTo(tc.v, tc.res); got != tc.want {
			t.Errorf("roundTo(%d, %d) = %d, want %d", tc.v, tc.res, got, tc.want)
		}
	}
}

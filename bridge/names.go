package bridge

import (
	"fmt"

	"github.com/sensorcast/sensorcast/sensors/reading"
)

// checkNames checks the device's and the sensors' names, and that no two
// sensors share a topic once spaces become _.
func checkNames(device string, sensors []Sensor) error {
	if err := reading.CheckName(device); err != nil {
		return fmt.Errorf("mqtt: device: %w", err)
	}
	seen := make(map[string]string, len(sensors))
	for _, s := range sensors {
		if err := reading.CheckName(s.Name); err != nil {
			return fmt.Errorf("mqtt: sensor: %w", err)
		}
		t := topicSafe(s.Name)
		if other, dup := seen[t]; dup && other != s.Name {
			return fmt.Errorf("mqtt: sensors %q and %q would publish on the same topics (…/%s/%s): rename one", other, s.Name, topicSafe(device), t)
		}
		seen[t] = s.Name
	}
	return nil
}

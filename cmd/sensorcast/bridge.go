package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/sensorcast/sensorcast/bridge"
	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/sensors"
)

// startBridge starts the MQTT bridge when the config has an [mqtt] table or
// -mqtt names a broker (the flag overrides the table's broker). Without
// either it returns nil and nothing MQTT-related runs.
func startBridge(cfg *Config, mqttURL, stateDir, configPath string, infos []hub.SensorInfo, log *slog.Logger) (*bridge.MQTT, error) {
	if cfg.MQTT == nil && mqttURL == "" {
		return nil, nil
	}
	var bc bridge.Config
	if cfg.MQTT != nil {
		bc = *cfg.MQTT
	}
	if mqttURL != "" {
		bc.Broker = mqttURL
	}
	if stateDir == "" {
		var err error
		if stateDir, err = defaultStateDir(); err != nil {
			return nil, err
		}
	}
	sensors := make([]bridge.Sensor, len(infos))
	for i, s := range infos {
		gap := s.MaxGap
		if gap == 0 {
			gap = -1 // no bound: no expire_after
		}
		sensors[i] = bridge.Sensor{Name: s.Name, Interval: s.Interval, MaxGap: gap}
		for j := range cfg.Sensors {
			if c := &cfg.Sensors[j]; c.Name == s.Name {
				sensors[i].Values = c.Expect()
				sensors[i].Binary = c.Driver == "gpio"
				sensors[i].HA = haOverrides(c.HA)
			}
		}
	}
	br, err := bridge.New(&bridge.Options{
		ConfigurationURL: dashboardURL(cfg.Listen),
		Config:           bc,
		Device:           cfg.Device,
		Version:          version,
		Sensors:          sensors,
		StateDir:         stateDir,
		Alerts:           alertNames(cfg),
		Logger:           log.With("component", "mqtt"),
	})
	if err != nil {
		if cfg.MQTT != nil && configPath != "" {
			return nil, fmt.Errorf("%s: [mqtt]: %w", configPath, err)
		}
		return nil, err
	}
	log.Info("mqtt bridge on", "bridge", br.String(), "state", stateDir)
	return br, nil
}

// defaultStateDir is -state's default, where the access token, the MQTT
// bridge's queue and client ID and the pulse counters are kept: systemd's
// $STATE_DIRECTORY (StateDirectory= in the unit), else $XDG_STATE_HOME or
// ~/.local/state, under sensorcast/. Without any of them it is an error,
// never a directory under /tmp: there another local user could create it
// first, or plant links in it, and read or replace the token.
func defaultStateDir() (string, error) {
	if d := os.Getenv("STATE_DIRECTORY"); d != "" {
		first, _, _ := strings.Cut(d, ":")
		return first, nil
	}
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) { // the XDG spec ignores a relative one
		return filepath.Join(d, "sensorcast"), nil
	}
	if home, err := os.UserHomeDir(); err == nil && filepath.IsAbs(home) {
		return filepath.Join(home, ".local", "state", "sensorcast"), nil
	}
	return "", errors.New("no state directory: STATE_DIRECTORY, XDG_STATE_HOME and HOME are all unset; give one, or -state <dir> (sensorcast keeps its token and queue there, and not under /tmp, where another user could get at them)")
}

// hubSinks returns the hub's sinks: the bridge, when it runs.
func hubSinks(br *bridge.MQTT) []hub.Sink {
	if br == nil {
		return nil
	}
	return []hub.Sink{br}
}

// haOverrides converts a sensor's [sensor.ha.<value>] tables for the bridge.
func haOverrides(in map[string]sensors.HA) map[string]bridge.HA {
	if in == nil {
		return nil
	}
	out := make(map[string]bridge.HA, len(in))
	for v, h := range in {
		out[v] = bridge.HA{DeviceClass: h.DeviceClass, EntityCategory: h.EntityCategory, Icon: h.Icon, Precision: h.Precision}
	}
	return out
}

// dashboardURL is the dashboard's address for Home Assistant's device
// page: the listen address, with this machine's name for a wildcard host.
func dashboardURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return ""
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return ""
		}
		host = h
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

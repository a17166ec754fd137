// Package sensors reads sensorcast's sensors and turns each sample into a
// reading.Reading.
//
// A Source is anything that can fill a Reading:
//
//   - the simulator (NewSim) and the host's own health (NewHost: CPU
//     temperature, load, memory, uptime, Wi-Fi signal, disk usage);
//   - DS18B20 probes on the kernel's 1-Wire bus, hot-plugged (NewW1);
//   - any device of the kernel's Industrial I/O subsystem, such as a DHT22
//     with dtoverlay=dht11 (NewIIO);
//   - digital inputs on GPIO lines, debounced and published on each change
//     (NewGPIO, a Waker), and pulse counters on them (NewPulse, counting
//     the kernel's timestamped edge events of a line from OpenEdgeLine);
//   - particulate matter and CO₂ sensors on a serial port: PMS5003,
//     PMS7003, SDS011, MH-Z19B (a Serial Source each);
//   - I²C chips through periph.io: BME280/BMP280, AHT20, SHT3x/SHT4x
//     (package sht), BH1750, MCP9808, TMP102, INA219, ADS1115/ADS1015 and
//     SCD4x, each an I2C Source that opens its bus and chip on demand and
//     again after a failure.
//
// Each driver is described once, in its own file (driver_<name>.go): its
// defaults, values, options, datasheet ranges, how it opens and how scan
// recognises it. Validate, Open, ScanI2C, ScanSystem and DriverTable (the
// README's table) derive from those descriptions.
//
// Config is one [[sensor]] table of the configuration file. Config.Validate
// checks it and fills in defaults without touching hardware;
// Hardware.Open turns it into a Source, wrapped in a Filtered Source when
// it has per-value Filters (calibration, median or moving average,
// rounding, delta and heartbeat). ScanI2C lists and identifies the chips
// on a bus.
//
// A Poller reads each Source at its own interval on its own goroutine,
// reuses one Reading per source, and hands every successful sample to a
// callback. A failing or panicking Source is logged, reported through
// OnStatus, and retried with exponential backoff up to a cap, without
// disturbing the others; it is back on its interval from its first
// success. No driver's SenseContinuous is used: the Poller calls Sense on
// its own timers and sees every error.
//
// Start with NewPoller, Poller.Add and Poller.Run. Package sensortest offers
// a scripted fake Source for tests.
package sensors

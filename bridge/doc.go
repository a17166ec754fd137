// Package bridge publishes sensorcast readings to an MQTT broker, so that
// Home Assistant, Node-RED, Telegraf or any other MQTT client can use them.
//
// Start with New: it takes a Config (the [mqtt] table of the configuration
// file), the device's name and its sensors, and returns an *MQTT that is
// already connecting. Hand it every reading with PublishReading and every
// sensor health change with PublishStatus; neither ever waits for the
// disk or the network. Close publishes "offline" and disconnects.
//
// Readings wait for the broker in a bounded queue (Config.Queue). When it
// is full the oldest readings are dropped, counted (Stats.Dropped) and
// logged at most once a minute: the newest are kept.
//
// # What survives a power cut
//
// The queue is kept on disk under Options.StateDir by the bridge's own
// goroutine. While the broker is unreachable each reading is written
// (write(2)) as soon as it is queued, so a killed sensorcast loses none;
// while it is reachable only the readings it has not acknowledged by the
// next sync are written. Every Config.SyncInterval (default 1 s) what was
// written is fsynced. So:
//
//   - After kill -9 during a broker outage nothing is lost.
//   - After a crash or power cut, every reading queued before the
//     last sync that the broker had not acknowledged is delivered after
//     the restart, in order. Readings queued since the last sync may be
//     lost, and readings the broker acknowledged since then may be sent
//     once more (QoS 1 is at least once anyway). After a clean stop
//     nothing is lost and nothing is sent twice.
//   - A torn or corrupted queue file loses only the records it hits: the
//     good records before and after them are delivered, and the lost ones
//     are counted (Stats.Lost) and logged at start.
//   - When the disk is full or fails, the queue goes on in memory (logged
//     once), the bridge retries at every sync and logs again when the
//     queue is back on disk. Acknowledged readings are not written back,
//     and newer ones are not lost, once it is; readings queued while the
//     disk failed survive a restart only if it came back first.
//
// SD-card writes at one reading a second with the default SyncInterval:
// none while the broker is reachable (a reading acknowledged before the
// next sync is never written); 60 writes and 60 fsyncs a minute while it
// is not; one truncate and fsync when the queue empties again
// (TestQueueWritesPerMinute).
//
// The bridge announces every value to Home Assistant through MQTT
// discovery, with expire_after from the sensor's longest legitimate gap
// (Sensor.MaxGap), and re-announces them whenever Home Assistant comes
// online.
package bridge

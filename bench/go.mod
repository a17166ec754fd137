module github.com/sensorcast/sensorcast/bench

go 1.26

require github.com/sensorcast/sensorcast v0.0.0

require github.com/coder/websocket v1.8.15

replace github.com/sensorcast/sensorcast => ../

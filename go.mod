module github.com/sensorcast/sensorcast

go 1.26

require (
	github.com/BurntSushi/toml v1.6.0 // indirect
	periph.io/x/conn/v3 v3.7.3
	periph.io/x/devices/v3 v3.7.4
	periph.io/x/host/v3 v3.8.5
)

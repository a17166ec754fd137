module github.com/sensorcast/sensorcast

go 1.26

// Package sht drives Sensirion's SHT3x (SHT30, SHT31, SHT35) and SHT4x
// (SHT40, SHT41, SHT45) temperature and humidity sensors over I²C, in the
// style of periph.io's device drivers: NewSHT3x or NewSHT4x opens a Dev on
// an i2c.Bus, Dev.Sense fills a physic.Env, Dev.Halt stops it.
//
// Every word the sensor sends is checked against its CRC-8 (polynomial
// 0x31, initial value 0xFF), so a corrupted transfer is an error rather
// than a wrong value. The driver uses single-shot measurements at high
// repeatability without clock stretching, so it never holds the bus while
// the sensor converts.
//
// There is deliberately no SenseContinuous: a caller that wants samples on
// a schedule calls Sense on its own ticker and sees every error.
package sht

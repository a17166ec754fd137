package sensors

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3/analog"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/devices/v3/ads1x15"
	"periph.io/x/devices/v3/aht20"
	"periph.io/x/devices/v3/bh1750"
	"periph.io/x/devices/v3/bmxx80"
	"periph.io/x/devices/v3/ina219"
	"periph.io/x/devices/v3/mcp9808"
	"periph.io/x/devices/v3/scd4x"
	"periph.io/x/devices/v3/tmp102"

	"github.com/sensorcast/sensorcast/sensors/reading"
	"github.com/sensorcast/sensorcast/sensors/sht"
)

// device is one opened I²C chip, adapted to add readings.
type device interface {
	sense(r *reading.Reading) error
	halt() error
}

// I2C is a Source for one chip on an I²C bus. It opens the chip on its
// first Sense, and again after any failure, so a chip that was absent at
// start, lost power or was unplugged is picked up again when it answers;
// the Poller's backoff paces the attempts. The bus device is open only
// during a Sense: between reads sensorcast holds nothing, so a bus whose
// driver is unloaded and loaded again (or that appears after start) is
// found again.
//
// A value outside the range the chip's datasheet gives fails the Sense with
// a *RangeError, like any other failure: the chip is dropped, and the next
// attempt opens it afresh and reads its calibration again.
type I2C struct {
	name   string
	desc   string // "sht3x at 0x44 on /dev/i2c-1", for errors
	bus    *lazyBus
	open   func(b i2c.Bus) (device, error)
	ranges []valueRange // the chip's datasheet ranges
	dev    device
}

// Name returns the I2C's name.
func (s *I2C) Name() string { return s.name }

// Sense opens the bus, and the chip if needed, and reads it. On failure,
// including a value outside the chip's range, it drops the chip, to start
// afresh next time. It closes the bus before it returns.
func (s *I2C) Sense(r *reading.Reading) error {
	defer s.bus.release()
	if err := s.bus.ensure(); err != nil {
		s.halt()
		return err
	}
	if s.dev == nil {
		dev, err := s.open(s.bus)
		if err != nil {
			return err
		}
		s.dev = dev
	}
	err := s.dev.sense(r)
	if err == nil {
		err = checkRanges(r, s.ranges)
	}
	if err != nil {
		s.halt()
		return fmt.Errorf("%s: %w", s.desc, err)
	}
	return nil
}

// Halt halts the chip, if open.
func (s *I2C) Halt() error {
	defer s.bus.release()
	if s.dev == nil {
		return nil
	}
	if err := s.bus.ensure(); err != nil {
		s.dev = nil
		return err
	}
	return s.halt()
}

// halt halts the chip, if open, and forgets it.
func (s *I2C) halt() error {
	if s.dev == nil {
		return nil
	}
	err := s.dev.halt()
	s.dev = nil
	return err
}

// lazyBus is an i2c.Bus that opens the named bus on demand and closes it
// on release. A chip driver keeps a lazyBus across reads.
type lazyBus struct {
	name string
	open func(name string) (i2c.BusCloser, error)
	b    i2c.BusCloser
}

func (l *lazyBus) String() string { return l.name }

// ensure opens the bus if it is not open.
func (l *lazyBus) ensure() error {
	if l.b != nil {
		return nil
	}
	b, err := l.open(l.name)
	if err != nil {
		return err
	}
	l.b = b
	return nil
}

// release closes the bus if it is open.
func (l *lazyBus) release() {
	if l.b != nil {
		l.b.Close()
		l.b = nil
	}
}

// Tx implements i2c.Bus.
func (l *lazyBus) Tx(addr uint16, w, r []byte) error {
	if err := l.ensure(); err != nil {
		return err
	}
	return l.b.Tx(addr, w, r)
}

// SetSpeed implements i2c.Bus.
func (l *lazyBus) SetSpeed(f physic.Frequency) error {
	if err := l.ensure(); err != nil {
		return err
	}
	return l.b.SetSpeed(f)
}

// Conversions from periph's units to milli-units, rounded.
func milliCelsius(t physic.Temperature) int64 {
	return roundDiv(int64(t-physic.ZeroCelsius), int64(physic.MilliCelsius))
}
func milliPercentRH(h physic.RelativeHumidity) int64 {
	return roundDiv(int64(h), int64(physic.PercentRH/1000))
}
func milliHPa(p physic.Pressure) int64 { return roundDiv(int64(p), int64(100*physic.Pascal/1000)) }
func milliVolt(v physic.ElectricPotential) int64 {
	return roundDiv(int64(v), int64(physic.MilliVolt))
}

// addEnv adds the temperature and, if asked, humidity and pressure.
func addEnv(r *reading.Reading, e *physic.Env, humidity, pressure bool) error {
	if err := r.Add("temperature", reading.Celsius, milliCelsius(e.Temperature)); err != nil {
		return err
	}
	if humidity {
		if err := r.Add("humidity", reading.Percent, milliPercentRH(e.Humidity)); err != nil {
			return err
		}
	}
	if pressure {
		return r.Add("pressure", reading.HPa, milliHPa(e.Pressure))
	}
	return nil
}

// envDev adapts periph's environmental sensors.
type envDev struct {
	dev interface {
		Sense(*physic.Env) error
		Halt() error
	}
	humidity, pressure bool
}

func (d *envDev) sense(r *reading.Reading) error {
	var e physic.Env
	if err := d.dev.Sense(&e); err != nil {
		return err
	}
	return addEnv(r, &e, d.humidity, d.pressure)
}
func (d *envDev) halt() error { return d.dev.Halt() }

// A BMx280 copies its calibration from NVM into the registers after power-up
// or a reset, flagging the copy with im_update, bit 0 of its status register
// 0xF3; calibration read meanwhile is garbage. openBMx280 reads the status
// up to nvmPolls times, nvmPollWait apart (the datasheet's start-up time is
// 2 ms), before it lets periph read the calibration.
const (
	regStatus   = 0xF3
	imUpdate    = 1 << 0
	nvmPolls    = 5
	nvmPollWait = 2 * time.Millisecond
)

// waitNVM waits, within bounds, for a BMx280's im_update to clear.
func waitNVM(b i2c.Bus, addr uint16) error {
	var st [1]byte
	for i := range nvmPolls {
		if i > 0 {
			time.Sleep(nvmPollWait)
		}
		if err := b.Tx(addr, []byte{regStatus}, st[:]); err != nil {
			return fmt.Errorf("read status: %w", err)
		}
		if st[0]&imUpdate == 0 {
			return nil
		}
	}
	return fmt.Errorf("calibration not ready: im_update (status 0x%02x bit 0) still set after %d reads %v apart", regStatus, nvmPolls, nvmPollWait)
}

func openBMx280(b i2c.Bus, addr uint16) (device, error) {
	if err := waitNVM(b, addr); err != nil {
		return nil, err
	}
	d, err := bmxx80.NewI2C(b, addr, &bmxx80.DefaultOpts)
	if err != nil {
		return nil, err
	}
	// BMP280s have no humidity; periph names the chip it found.
	isBME := len(d.String()) >= 6 && d.String()[:6] == "BME280"
	return &envDev{dev: d, humidity: isBME, pressure: true}, nil
}

func openAHT20(b i2c.Bus) (device, error) {
	d, err := aht20.NewI2C(b, &aht20.DefaultOpts)
	if err != nil {
		return nil, err
	}
	return &envDev{dev: d, humidity: true}, nil
}

func openMCP9808(b i2c.Bus, addr uint16) (device, error) {
	d, err := mcp9808.New(b, &mcp9808.Opts{Addr: int(addr), Res: mcp9808.Maximum})
	if err != nil {
		return nil, err
	}
	return &envDev{dev: d}, nil
}

func openTMP102(b i2c.Bus, addr uint16) (device, error) {
	d, err := tmp102.NewI2C(b, addr, &tmp102.Opts{SampleRate: tmp102.RateFourHertz})
	if err != nil {
		return nil, err
	}
	return &envDev{dev: d}, nil
}

func openSHT(b i2c.Bus, addr uint16, k sht.Kind) (device, error) {
	open := sht.NewSHT3x
	if k == sht.SHT4x {
		open = sht.NewSHT4x
	}
	d, err := open(b, &sht.Opts{Addr: addr})
	if err != nil {
		return nil, err
	}
	return &envDev{dev: d, humidity: true}, nil
}

// bh1750Dev reports illuminance.
type bh1750Dev struct{ d *bh1750.Dev }

func openBH1750(b i2c.Bus, addr uint16) (device, error) {
	d, err := bh1750.NewI2C(b, addr)
	if err != nil {
		return nil, err
	}
	return &bh1750Dev{d}, nil
}

func (d *bh1750Dev) sense(r *reading.Reading) error {
	l, err := d.d.Sense()
	if err != nil {
		return err
	}
	return r.Add("illuminance", reading.Lux, roundDiv(int64(l), int64(physic.Lumen/1000)))
}
func (d *bh1750Dev) halt() error { return d.d.Halt() }

// ina219Dev reports bus voltage, current and power.
type ina219Dev struct{ d *ina219.Dev }

func openINA219(b i2c.Bus, addr uint16, shunt physic.ElectricResistance, maxCurrent physic.ElectricCurrent) (device, error) {
	d, err := ina219.New(b, &ina219.Opts{Address: int(addr), SenseResistor: shunt, MaxCurrent: maxCurrent})
	if err != nil {
		return nil, err
	}
	return &ina219Dev{d}, nil
}

func (d *ina219Dev) sense(r *reading.Reading) error {
	pm, err := d.d.Sense()
	if err != nil {
		return err
	}
	return errors.Join(
		r.Add("voltage", reading.Volt, milliVolt(pm.Voltage)),
		r.Add("current", reading.Ampere, roundDiv(int64(pm.Current), int64(physic.MilliAmpere))),
		r.Add("power", reading.Watt, roundDiv(int64(pm.Power), int64(physic.MilliWatt))),
	)
}
func (d *ina219Dev) halt() error { return nil }

// scd4xDev reports CO₂, temperature and humidity.
type scd4xDev struct{ d *scd4x.Dev }

func openSCD4x(b i2c.Bus, addr uint16) (device, error) {
	d, err := scd4x.NewI2C(b, addr)
	if err != nil {
		return nil, err
	}
	return &scd4xDev{d}, nil
}

func (d *scd4xDev) sense(r *reading.Reading) error {
	var e scd4x.Env
	if err := d.d.Sense(&e); err != nil {
		return err
	}
	if err := r.Add("co2", reading.PPM, int64(e.CO2)*1000); err != nil {
		return err
	}
	return addEnv(r, &e.Env, true, false)
}
func (d *scd4xDev) halt() error { return d.d.Halt() }

// adcDev reports ADS1x15 channels in engineering units.
type adcDev struct {
	d     *ads1x15.Dev
	pins  []ads1x15.PinADC
	chans []Channel
}

// adcInputs maps a channel's input to the ADS1x15 multiplexer setting.
var adcInputs = map[string]ads1x15.Channel{
	"A0": ads1x15.Channel0, "A1": ads1x15.Channel1, "A2": ads1x15.Channel2, "A3": ads1x15.Channel3,
	"A0-A1": ads1x15.Channel0Minus1, "A0-A3": ads1x15.Channel0Minus3,
	"A1-A3": ads1x15.Channel1Minus3, "A2-A3": ads1x15.Channel2Minus3,
}

func openADS1x15(b i2c.Bus, addr uint16, is1015 bool, chans []Channel) (device, error) {
	open := ads1x15.NewADS1115
	if is1015 {
		open = ads1x15.NewADS1015
	}
	d, err := open(b, &ads1x15.Opts{I2cAddress: addr})
	if err != nil {
		return nil, err
	}
	a := &adcDev{d: d, chans: chans}
	for _, c := range chans {
		fs := physic.ElectricPotential(c.Range * float64(physic.Volt))
		p, err := d.PinForChannel(adcInputs[c.Input], fs, 8*physic.Hertz, ads1x15.BestQuality)
		if err != nil {
			d.Halt()
			return nil, fmt.Errorf("channel %q (%s): %w", c.Name, c.Input, err)
		}
		a.pins = append(a.pins, p)
	}
	return a, nil
}

func (d *adcDev) sense(r *reading.Reading) error {
	for i, p := range d.pins {
		s, err := p.Read()
		if err != nil {
			return fmt.Errorf("channel %q: %w", d.chans[i].Name, err)
		}
		if err := r.Add(d.chans[i].Name, reading.Unit(d.chans[i].Unit), d.chans[i].convert(s)); err != nil {
			return err
		}
	}
	return nil
}

func (d *adcDev) halt() error {
	var errs []error
	for _, p := range d.pins {
		errs = append(errs, p.Halt())
	}
	return errors.Join(append(errs, d.d.Halt())...)
}

// convert turns a sample into the channel's unit: volts × Scale + Offset.
func (c *Channel) convert(s analog.Sample) int64 {
	return reading.Milli(float64(s.V)/float64(physic.Volt)*c.scale() + c.Offset)
}

func (c *Channel) scale() float64 {
	if c.Scale == nil {
		return 1
	}
	return *c.Scale
}

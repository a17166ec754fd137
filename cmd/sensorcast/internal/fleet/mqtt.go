package fleet

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// MQTTOptions says how to reach the broker.
type MQTTOptions struct {
	Broker       string // tcp://, ssl://, ws://, …
	ClientID     string // required: unique on the broker
	Username     string
	Password     string
	TLS          *tls.Config
	ReconnectMax time.Duration // default 30 s
	Logger       *slog.Logger
}

// Conn is the fleet's subscription to the broker. It reconnects forever and
// subscribes again on every connect; with a clean session the broker sends
// every retained info, status and availability message again, so the view
// is rebuilt at once.
type Conn struct {
	client    paho.Client
	connected atomic.Bool
}

// Subscribe connects to the broker in the background and hands every
// message under f's prefix to f.Handle: <prefix>/+/+ (readings, status,
// info) and <prefix>/+/+/availability. The per-value topics are not
// subscribed to: the reading message carries them all.
func Subscribe(f *Fleet, o *MQTTOptions) (*Conn, error) {
	if o.Broker == "" || o.ClientID == "" {
		return nil, errors.New("fleet: a broker URL and a client id are needed")
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Conn{}
	handler := func(_ paho.Client, m paho.Message) { f.Handle(m.Topic(), m.Payload()) }
	filters := map[string]byte{f.o.Prefix + "/+/+": 1, f.o.Prefix + "/+/+/availability": 1}
	po := paho.NewClientOptions().
		AddBroker(o.Broker).
		SetClientID(o.ClientID).
		SetCleanSession(true).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(max(o.ReconnectMax, time.Second)).
		SetConnectTimeout(5 * time.Second).
		SetKeepAlive(30 * time.Second).
		SetOrderMatters(true). // one goroutine: a device's messages in order
		SetDefaultPublishHandler(handler).
		SetOnConnectHandler(func(cl paho.Client) {
			c.connected.Store(true)
			t := cl.SubscribeMultiple(filters, handler)
			go func() {
				if t.WaitTimeout(10*time.Second) && t.Error() != nil {
					log.Warn("fleet: subscribe failed", "err", t.Error())
					return
				}
				log.Info("fleet: subscribed", "broker", o.Broker, "prefix", f.o.Prefix)
			}()
		}).
		SetConnectionLostHandler(func(_ paho.Client, err error) {
			c.connected.Store(false)
			log.Warn("fleet: connection to the broker lost; reconnecting", "err", err)
		})
	if o.Username != "" {
		po.SetUsername(o.Username)
		po.SetPassword(o.Password)
	}
	if o.TLS != nil {
		po.SetTLSConfig(o.TLS)
	}
	c.client = paho.NewClient(po)
	c.client.Connect() // retries in the background
	return c, nil
}

// Connected reports whether the broker connection is up.
func (c *Conn) Connected() bool { return c.connected.Load() }

// Close disconnects, waiting up to 250 ms for work in flight.
func (c *Conn) Close() { c.client.Disconnect(250) }

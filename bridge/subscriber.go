package bridge

import (
	"crypto/tls"
	"time"
)

// Subscriber is what a client that only reads from the broker (sensorcast
// fleet) takes from an [mqtt] table: the same broker, credentials and TLS
// settings the nodes publish with, checked as New checks them.
type Subscriber struct {
	Broker       string      // the broker's URL, as paho takes it
	ClientID     string      // "" for the caller's default
	Username     string      // "" for none
	Password     string      // read from password_file or password_env
	TLS          *tls.Config // nil for plain TCP or WebSocket
	Prefix       string      // the topic prefix the nodes publish under
	ReconnectMax time.Duration
}

// Subscriber checks c as New would, for name (used for the defaults), and
// returns the settings a subscribing client needs. Every error names the
// key.
func (c *Config) Subscriber(name string) (*Subscriber, error) {
	s, err := c.check(name)
	if err != nil {
		return nil, err
	}
	return &Subscriber{
		Broker: s.broker.String(), ClientID: s.clientID, Username: s.username, Password: s.password,
		TLS: s.tls, Prefix: s.prefix, ReconnectMax: s.reconnectMax,
	}, nil
}

package ws

import (
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/sensorcast/sensorcast/ws/internal/frame"
)

// StatusCode is a WebSocket close code (RFC 6455 §7.4).
type StatusCode uint16

// Close codes from RFC 6455 §7.4.1 and the IANA registry. Codes 1005 and
// 1006 are never sent on the wire; they only describe a close seen locally.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusRcvd            StatusCode = 1005
	StatusAbnormalClosure         StatusCode = 1006
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:           "NormalClosure",
	StatusGoingAway:               "GoingAway",
	StatusProtocolError:           "ProtocolError",
	StatusUnsupportedData:         "UnsupportedData",
	StatusNoStatusRcvd:            "NoStatusRcvd",
	StatusAbnormalClosure:         "AbnormalClosure",
	StatusInvalidFramePayloadData: "InvalidFramePayloadData",
	StatusPolicyViolation:         "PolicyViolation",
	StatusMessageTooBig:           "MessageTooBig",
	StatusMandatoryExtension:      "MandatoryExtension",
	StatusInternalError:           "InternalError",
	StatusServiceRestart:          "ServiceRestart",
	StatusTryAgainLater:           "TryAgainLater",
}

// String returns the code's name, such as "GoingAway", or its number.
func (c StatusCode) String() string {
	if s, ok := statusNames[c]; ok {
		return s
	}
	return "StatusCode(" + strconv.Itoa(int(c)) + ")"
}

// CloseError is the close frame received from the peer, or the one this
// side sent when it failed the connection. OnClose receives it.
type CloseError struct {
	Code   StatusCode
	Reason string
}

// Error formats the close code and reason.
func (e CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("ws: close %d (%v)", uint16(e.Code), e.Code)
	}
	return fmt.Sprintf("ws: close %d (%v): %s", uint16(e.Code), e.Code, e.Reason)
}

// CloseStatus returns the code of the CloseError in err's chain, or 0 if
// there is none.
func CloseStatus(err error) StatusCode {
	var ce CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return 0
}

// ErrMessageTooBig is wrapped in the error passed to OnClose when a client
// message exceeds Options.ReadLimit (the connection is closed with 1009).
var ErrMessageTooBig = errors.New("ws: message too big")

// closeTimeout bounds how long a server-initiated close waits for the
// peer's close frame before TCP is closed anyway (design §4.8).
const closeTimeout = time.Second

// maxCloseFrame is a control frame with the largest payload: a 2-byte
// header and 125 bytes.
const maxCloseFrame = 2 + frame.MaxControlPayload

// putClose encodes a close frame into dst and returns its length. A zero
// code encodes an empty close body.
func putClose(dst *[maxCloseFrame]byte, code StatusCode, reason string) int {
	body := 0
	if code != 0 {
		body = 2 + len(reason)
	}
	n := frame.Put(dst[:], frame.Header{Fin: true, Opcode: frame.OpClose, Length: uint64(body)})
	if code != 0 {
		dst[n], dst[n+1] = byte(code>>8), byte(code)
		n += 2 + copy(dst[n+2:], reason)
	}
	return n
}

// checkSendClose validates a close code and reason the application wants to
// send.
func checkSendClose(code StatusCode, reason string) error {
	if !frame.ValidReceivedCloseCode(uint16(code)) {
		return fmt.Errorf("ws: close: invalid status code %d", uint16(code))
	}
	if len(reason) > frame.MaxControlPayload-2 {
		return fmt.Errorf("ws: close: reason longer than %d bytes", frame.MaxControlPayload-2)
	}
	if !utf8.ValidString(reason) {
		return errors.New("ws: close: reason is not valid UTF-8")
	}
	return nil
}

// parseClose validates the payload of a received close frame. It returns
// the code to echo (0 for an empty body) or the code to fail with.
func parseClose(p []byte) (ce CloseError, fail StatusCode) {
	switch {
	case len(p) == 0:
		return CloseError{Code: StatusNoStatusRcvd}, 0
	case len(p) == 1:
		return ce, StatusProtocolError
	}
	code := uint16(p[0])<<8 | uint16(p[1])
	if !frame.ValidReceivedCloseCode(code) {
		return ce, StatusProtocolError
	}
	if !utf8.Valid(p[2:]) {
		return ce, StatusInvalidFramePayloadData
	}
	return CloseError{Code: StatusCode(code), Reason: string(p[2:])}, 0
}

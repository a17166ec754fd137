package ws

import "strings"

// upgradeHead is what the handshake reads of an upgrade request that
// Intercept parsed itself: substrings of the request head. Each field may
// appear at most once; seen records which did.
type upgradeHead struct {
	host, connection, upgrade, version, key, origin, protocol string
	seen                                                      uint8
}

// Bits of upgradeHead.seen.
const (
	seenHost = 1 << iota
	seenConnection
	seenUpgrade
	seenVersion
	seenKey
	seenOrigin
	seenProtocol
)

// parseUpgradeHead parses head, a request head ending in an empty line, for
// the simple upgrade requests that Intercept takes without net/http: the
// request line "GET <path> HTTP/1.1" or "GET <path>?<query> HTTP/1.1", and
// fields "Name: value" with printable ASCII values. It reports false for
// anything else, and the request then goes to net/http, which parses every
// form: a folded line, a field the handshake reads given twice, a body
// (Content-Length or Transfer-Encoding), a path with escapes, a Host that
// net/http's server would refuse, bytes outside printable ASCII. What it
// accepts, net/http's parser reads the same way (FuzzUpgradeHead).
//
// Unlike http.ReadRequest it allocates nothing: the fields are substrings
// of head.
func parseUpgradeHead(head, path string) (h upgradeHead, ok bool) {
	if strings.IndexByte(path, '%') >= 0 {
		return h, false
	}
	line, rest, ok := strings.Cut(head, "\r\n")
	if !ok {
		return h, false
	}
	target, ok := strings.CutPrefix(line, "GET ")
	if !ok {
		return h, false
	}
	target, ok = strings.CutSuffix(target, " HTTP/1.1")
	if !ok {
		return h, false
	}
	query, ok := strings.CutPrefix(target, path)
	if !ok || (query != "" && query[0] != '?') {
		return h, false
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c <= ' ' || c >= 0x7f || c == '#' {
			return h, false
		}
	}
	for {
		line, rest, ok = strings.Cut(rest, "\r\n")
		if !ok {
			return h, false
		}
		if line == "" {
			return h, rest == ""
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return h, false // also a folded line: it starts with a space
		}
		for i := 0; i < len(name); i++ {
			if !isTokenByte(name[i]) {
				return h, false
			}
		}
		value = strings.Trim(value, " \t")
		for i := 0; i < len(value); i++ {
			if c := value[i]; (c < ' ' && c != '\t') || c >= 0x7f {
				return h, false
			}
		}
		var field *string
		var bit uint8
		switch {
		case strings.EqualFold(name, "Host"):
			field, bit = &h.host, seenHost
			if value == "" || !validHost(value) {
				return h, false
			}
		case strings.EqualFold(name, "Connection"):
			field, bit = &h.connection, seenConnection
		case strings.EqualFold(name, "Upgrade"):
			field, bit = &h.upgrade, seenUpgrade
		case strings.EqualFold(name, "Sec-WebSocket-Version"):
			field, bit = &h.version, seenVersion
		case strings.EqualFold(name, "Sec-WebSocket-Key"):
			field, bit = &h.key, seenKey
		case strings.EqualFold(name, "Origin"):
			field, bit = &h.origin, seenOrigin
		case strings.EqualFold(name, "Sec-WebSocket-Protocol"):
			field, bit = &h.protocol, seenProtocol
		case strings.EqualFold(name, "Content-Length"), strings.EqualFold(name, "Transfer-Encoding"):
			return h, false
		default:
			continue
		}
		if h.seen&bit != 0 {
			return h, false
		}
		h.seen |= bit
		*field = value
	}
}

// isTokenByte reports whether c may appear in a field name (RFC 9110 tchar).
func isTokenByte(c byte) bool { return alnumOr(c, "!#$%&'*+-.^_`|~") }

// validHost reports whether every byte of a Host value is one net/http's
// server accepts there.
func validHost(h string) bool {
	for i := 0; i < len(h); i++ {
		if !alnumOr(h[i], "!$%&'()*+,-.:;=[]_~") {
			return false
		}
	}
	return true
}

// alnumOr reports whether c is an ASCII letter or digit or one of extra.
func alnumOr(c byte, extra string) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte(extra, c) >= 0
}

// checkHead applies checkUpgrade's and originAllowed's rules to h and returns
// the client's key, or false if ServeHTTP would not upgrade the request.
func (s *Server) checkHead(h *upgradeHead) (key string, ok bool) {
	const need = seenHost | seenConnection | seenUpgrade | seenVersion | seenKey
	if h.seen&need != need || !tokenListHas(h.connection, "upgrade") || !tokenListHas(h.upgrade, "websocket") ||
		h.version != "13" || !validKey(h.key) {
		return "", false
	}
	if h.seen&seenOrigin != 0 && !s.originOK(h.origin, h.host) {
		return "", false
	}
	return h.key, true
}

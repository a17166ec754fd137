package main

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// newLogger returns the logger of -log-format (text, the default, or json:
// one JSON object a line, for journald's and log shippers' parsers) and
// -log-level (debug, info, warn or error; default info).
func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil || level == "" || strings.ContainsAny(level, "+-") {
		return nil, fmt.Errorf("-log-level %q: want debug, info, warn or error", level)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("-log-format %q: want text or json", format)
}

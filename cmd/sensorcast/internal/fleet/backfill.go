package fleet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/hub"
	"github.com/sensorcast/sensorcast/sensors/reading"
)

// fetch gets base's /api/history: the node's whole history message.
func (b *Backfiller) fetch(ctx context.Context, base string) ([]byte, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("dashboard URL %q: want http:// or https:// with a host", base)
	}
	u = u.JoinPath("api", "history")
	u.RawQuery, u.Fragment = "", ""
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	if b.Token != "" {
		req.Header.Set("Authorization", "Bearer "+b.Token)
	}
	c := b.Client
	if c == nil {
		c = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := b.MaxBody
	if limit <= 0 {
		limit = 32 << 20
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %.200s", u.Redacted(), resp.Status, body)
	}
	if int64(len(body)) > limit {
		return nil, fmt.Errorf("GET %s: history over %d bytes", u.Redacted(), limit)
	}
	return body, nil
}

// runBackfill fills device id's hub with the node's history older than
// the first point the fleet received itself.
func (f *Fleet) runBackfill(id, base string, h *hub.Hub) {
	body, err := f.o.Backfill.fetch(f.ctx, base)
	var pts int
	if err == nil {
		var hist map[string][]reading.Reading
		hist, err = parseHistory(body)
		if err == nil {
			f.mu.Lock()
			for sensor, p := range hist {
				pts += h.Backfill(sensor, p)
			}
			f.mu.Unlock()
		}
	}
	if err != nil {
		if errors.Is(f.ctx.Err(), context.Canceled) {
			return
		}
		f.backfillErrors.Add(1)
		f.log.Warn("fleet: no backfill; this device's charts start when the fleet did", "device", id, "url", base, "err", err)
		return
	}
	f.backfilled.Add(uint64(pts))
	f.log.Info("fleet: history backfilled from the node", "device", id, "points", pts)
}

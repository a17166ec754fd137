package alert

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/sensorcast/sensorcast/cmd/sensorcast/internal/access"
)

// StateFile is the name of the engine's state file in Options.StateDir.
const StateFile = "alerts.json"

// maxStateFile bounds what is read of the state file.
const maxStateFile = 1 << 20

type savedState struct {
	Version int         `json:"version"`
	Rules   []savedRule `json:"rules"`
}

type savedRule struct {
	Name    string    `json:"name"`
	When    string    `json:"when"`
	Firing  bool      `json:"firing"`
	Since   time.Time `json:"since,omitzero"`
	Firings uint64    `json:"firings"`
}

// encodeState returns the state file's content. e.mu must be held.
func (e *Engine) encodeState() []byte {
	st := savedState{Version: 1, Rules: make([]savedRule, 0, len(e.rules))}
	for _, r := range e.rules {
		st.Rules = append(st.Rules, savedRule{Name: r.Name, When: r.When.String(), Firing: r.firing, Since: r.since, Firings: r.firings})
	}
	b, _ := json.Marshal(st) // only strings, times and numbers: cannot fail
	return append(b, '\n')
}

// save writes the state file (mode 0600, replacing it whole). An error is
// logged: the rules go on, and the next transition tries again.
func (e *Engine) save(b []byte) {
	if err := access.WritePrivate(e.opts.StateDir, StateFile, b, true); err != nil {
		e.log.Error("alert state not kept: after a restart a firing rule may notify again", "err", err)
		e.mu.Lock()
		e.dirty = true
		e.mu.Unlock()
	}
}

// restore reads the state file; e is not shared yet.
func (e *Engine) restore() {
	path := filepath.Join(e.opts.StateDir, StateFile)
	b, err := access.ReadPrivate(path, maxStateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var st savedState
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		e.log.Warn("alert state not restored: every rule starts ok", "file", path, "err", err)
		return
	}
	for _, s := range st.Rules {
		for _, r := range e.rules {
			if r.Name != s.Name {
				continue
			}
			if r.When.String() != s.When {
				e.log.Warn("alert rule changed since its state was kept: it starts ok", "rule", r.Name, "was", s.When, "now", r.When.String())
				break
			}
			r.firing, r.since, r.firings = s.Firing, s.Since, s.Firings
			if r.firing {
				e.log.Info("alert still firing from before the restart", "rule", r.Name, "since", r.since)
			}
		}
	}
}

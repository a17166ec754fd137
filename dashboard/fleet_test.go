package dashboard

import (
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestFleetMode: the page says which it is, so app.js shows a node's cards
// or the fleet's overview.
func TestFleetMode(t *testing.T) {
	for _, tc := range []struct {
		o    *Options
		want string
	}{
		{nil, `<meta name="sensorcast-mode" content="node">`},
		{&Options{Fleet: true}, `<meta name="sensorcast-mode" content="fleet">`},
	} {
		rec := httptest.NewRecorder()
		Handler(tc.o).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		body, _ := io.ReadAll(rec.Body)
		if !strings.Contains(string(body), tc.want) || strings.Contains(string(body), modePlaceholder) {
			t.Errorf("page with %+v lacks %s", tc.o, tc.want)
		}
	}
}

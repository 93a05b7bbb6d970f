package profilehttp

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/velocityos/velocity/kernel"
)

// Arguments out of range are refused before the kernel is asked; on a
// host that is not Velocity the kernel's refusal comes back as a 500 with
// its message, not as an empty profile.
func TestHandlerArguments(t *testing.T) {
	for _, tc := range []struct {
		query string
		code  int
		body  string
	}{
		{"seconds=0", http.StatusBadRequest, "seconds"},
		{"seconds=61", http.StatusBadRequest, "seconds"},
		{"seconds=x", http.StatusBadRequest, "seconds"},
		{"hz=0", http.StatusBadRequest, "hz"},
		{"hz=100000", http.StatusBadRequest, "hz"},
		{"seconds=0.01&hz=100", http.StatusInternalServerError, ""},
	} {
		if tc.code == http.StatusInternalServerError && kernel.OnVelocity() {
			continue
		}
		rec := httptest.NewRecorder()
		Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/debug/kernel/profile?"+tc.query, nil))
		if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.body) {
			t.Errorf("?%s: %d %q, want %d containing %q", tc.query, rec.Code, rec.Body.String(), tc.code, tc.body)
		}
	}
}

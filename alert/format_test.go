package alert

import (
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	t.Parallel()
	durations := []struct {
		d    time.Duration
		want string
	}{
		{412 * time.Millisecond, "412 ms"},
		{412600 * time.Microsecond, "413 ms"},
		{1500 * time.Millisecond, "1500 ms"},
		{100 * time.Millisecond, "100 ms"},
		{41230 * time.Microsecond, "41.2 ms"},
		{4 * time.Millisecond, "4 ms"},
		{412 * time.Microsecond, "0.412 ms"},
		{0, "0 ms"},
	}
	for _, tt := range durations {
		if got := formatMillis(tt.d); got != tt.want {
			t.Errorf("formatMillis(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
	shares := []struct {
		v    float64
		want string
	}{
		{0.01, "1%"},
		{0.032, "3.2%"},
		{0.8, "80%"},
		{0.85, "85%"},
		{1, "100%"},
		{1.5, "150%"},
		{0.001, "0.1%"},
		{0.12345, "12.3%"},
		{0, "0%"},
		{25, "2500%"},
	}
	for _, tt := range shares {
		if got := percent(tt.v); got != tt.want {
			t.Errorf("percent(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	sizes := []struct {
		n    int64
		want string
	}{
		{1_200_000_000, "1.2 GB"},
		{1_000_000_000, "1.0 GB"},
		{900_000_000, "900 MB"},
		{512, "512 B"},
	}
	for _, tt := range sizes {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := tenantLabel("u-1", "Acme\nCorp\t"); got != "Acme Corp  (u-1)" {
		t.Errorf("tenantLabel = %q", got)
	}
}

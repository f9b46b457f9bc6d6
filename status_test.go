package tenancy

import "testing"

func TestParseStatus(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		want Status
		ok   bool
	}{
		{"active", StatusActive, true},
		{" Suspended ", StatusSuspended, true},
		{"BLOCKED", StatusBlocked, true},
		{"inactive", StatusInactive, true},
		{"maintenance", "", false},
		{"", "", false},
		{"pending", "", false},
	} {
		got, err := ParseStatus(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseStatus(%q) = %q, %v", c.in, got, err)
		}
		if err != nil && !IsValidation(err) {
			t.Errorf("ParseStatus(%q) error is not a ValidationError: %v", c.in, err)
		}
	}
}

package tenancy

import (
	"testing"
)

func TestNormalizeDomain(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"example.com", "example.com", true},
		{"Example.COM", "example.com", true},
		{"  shop.example.com.  ", "shop.example.com", true},
		{"test1.localhost:8080", "test1.localhost", true},
		{"bücher.example", "xn--bcher-kva.example", true},
		{"\xff\xfe.test", "", false},
		{"BÜCHER.example.", "xn--bcher-kva.example", true},
		{"xn--bcher-kva.example", "xn--bcher-kva.example", true},
		{"localhost", "localhost", true},
		{"a-b.c", "a-b.c", true},
		{"", "", false},
		{"   ", "", false},
		{".", "", false},
		{"http://example.com", "", false},
		{"example.com/path", "", false},
		{"exa mple.com", "", false},
		{"user@example.com", "", false},
		{"example.com:abc", "", false},
		{"example.com:", "", false},
		{"a:b:c", "", false},
		{"127.0.0.1", "", false},
		{"[::1]:80", "", false},
		{"-bad.example", "", false},
		{"bad-.example", "", false},
		{"under_score.example", "", false},
		{"a..b", "", false},
		{string(make([]byte, 300)), "", false},
	}
	for _, c := range cases {
		got, err := NormalizeDomain(c.in)
		if c.ok != (err == nil) {
			t.Errorf("NormalizeDomain(%q) error = %v, want ok=%v", c.in, err, c.ok)
			continue
		}
		if err != nil && !IsValidation(err) {
			t.Errorf("NormalizeDomain(%q) error %v is not a ValidationError", c.in, err)
		}
		if got != c.want {
			t.Errorf("NormalizeDomain(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzNormalizeDomain(f *testing.F) {
	for _, s := range []string{"example.com", "Bücher.example:80", "a..b", "[::1]", "x.y."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := NormalizeDomain(s)
		if err != nil {
			return
		}
		again, err := NormalizeDomain(d)
		if err != nil || again != d {
			t.Fatalf("normalised %q to %q, which normalises to %q, %v", s, d, again, err)
		}
		for _, r := range d {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
				t.Fatalf("normalised %q to %q containing %q", s, d, r)
			}
		}
	})
}

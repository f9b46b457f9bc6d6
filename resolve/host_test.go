package resolve

import (
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/model"
)

var hostSeeds = []string{
	"acme.test", "acme.test:8080", "ACME.test", "acme.test.", "acme.test.:443", "localhost", "127.0.0.1:80",
	"[::1]:80", "[::1]", "::1", "", " ", ":", "a..b", ".a", "a.", "-a.test", "a-.test", "xn--bcher-kva.test",
	"bücher.test", "xn--zz.test", "xn--a.test", "ab--cd.test", "a:b:c", "a:0080", "1.2.3.4", "01.2.3.4",
	strings.Repeat("a", 63) + ".test", strings.Repeat("a", 64) + ".test", strings.Repeat("a.", 126) + "a",
	"[fe80::1%25eth0]:80", "a\x00b", "ＡＣＭＥ.test", "acme.test:", "acme.test:-1",
}

func TestFastHost(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"acme.test", "acme.test", true},
		{"acme.test:8080", "acme.test", true},
		{"acme.test.", "acme.test", true},
		{"acme.test.:8080", "acme.test", true},
		{"127.0.0.1:8080", "127.0.0.1", true},
		{"solo", "solo", true},
		{"ACME.test", "", false},
		{"acme.test:", "", false},
		{"acme.test:x", "", false},
		{"[::1]:80", "", false},
		{"a..b", "", false},
		{".a", "", false},
		{"a..", "", false},
		{"", "", false},
		{".", "", false},
		{"bücher.test", "", false},
		{strings.Repeat("a", 64), "", false},
		{strings.Repeat("a.", 127) + "a", "", false}, // 255 bytes
	} {
		got, ok := fastHost(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("fastHost(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestHostKey(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string
		ok       bool
	}{
		{"[::1]:80", "::1", true},
		{"[::1]", "::1", true},
		{"::1", "::1", true},
		{"[0:0::1]:443", "::1", true},
		{"[::ffff:127.0.0.1]", "127.0.0.1", true},
		{"[fe80::1%eth0]:80", "fe80::1", true},
		{"127.0.0.1:8080", "127.0.0.1", true},
		{"BÜCHER.test:80", "xn--bcher-kva.test", true},
		{" Acme.Test ", "acme.test", true},
		{"[::1]x", "", false},
		{"[::1]:", "", false},
		{"[::1", "", false},
		{"a b", "", false},
		{strings.Repeat("a", maxHostLen+1), "", false},
	} {
		got, ok := hostKey(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("hostKey(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestCanonicalUUID(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]bool{
		"0190a5c4-7d2e-7b3f-8a1b-123456789abc":   true,
		"0190A5C4-7D2E-7B3F-8A1B-123456789ABC":   false,
		"0190a5c4-7d2e-7b3f-8a1b-123456789ab":    false,
		"0190a5c47d2e-7b3f-8a1b-123456789abcd":   false,
		"0190a5c4-7d2e-7b3f-8a1b-123456789abg":   false,
		"{0190a5c4-7d2e-7b3f-8a1b-123456789abc}": false,
	} {
		if got := canonicalUUID(in); got != want {
			t.Errorf("canonicalUUID(%q) = %v", in, got)
		}
	}
}

// FuzzFastHost checks that the allocation-free path agrees with
// tenancy.NormalizeDomain whenever NormalizeDomain accepts a host, and that
// hostKey (fast path or not) gives exactly NormalizeDomain's answer then.
func FuzzFastHost(f *testing.F) {
	for _, s := range hostSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		fast, fastOK := fastHost(host)
		key, keyOK := hostKey(host)
		if fastOK && (!keyOK || key != fast) {
			t.Fatalf("hostKey(%q) = %q, %v but fastHost gives %q", host, key, keyOK, fast)
		}
		if fastOK && (len(fast) > 253 || !strings.HasPrefix(host, fast)) {
			t.Fatalf("fastHost(%q) = %q", host, fast)
		}
		want, err := model.NormalizeDomain(host)
		if err != nil {
			return
		}
		if fastOK && fast != want {
			t.Fatalf("fastHost(%q) = %q, NormalizeDomain = %q", host, fast, want)
		}
		if len(host) <= maxHostLen && (!keyOK || key != want) {
			t.Fatalf("hostKey(%q) = %q, %v; NormalizeDomain = %q", host, key, keyOK, want)
		}
	})
}

package tenantdb

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

func TestValidateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		ok      bool
		message string // part of the error message
	}{
		{"a", true, ""},
		{"tenant_acme_0a1b2c3d", true, ""},
		{"a_", true, ""},
		{"a9", true, ""},
		{"abc__def", true, ""},
		{"a" + strings.Repeat("b", 62), true, ""},
		{"", false, "empty"},
		{"a" + strings.Repeat("b", 63), false, "64 bytes long"},
		{strings.Repeat("x", 10000), false, "10000 bytes long"},
		{"A", false, "start with a lower-case"},
		{"Tenant", false, "start with a lower-case"},
		{"1abc", false, "start with a lower-case"},
		{"_abc", false, "start with a lower-case"},
		{"abC", false, "byte 2"},
		{"tenant-1", false, "byte 6"},
		{"a.b", false, "byte 1"},
		{"a b", false, "byte 1"},
		{"../etc", false, "start with a lower-case"},
		{"a/b", false, "byte 1"},
		{`a"b`, false, "byte 1"},
		{"a\x00", false, "byte 1"},
		{"ténant", false, "byte 1"},
		{"租户", false, "start with a lower-case"},
	}
	for _, tc := range tests {
		err := ValidateName(tc.name)
		if tc.ok {
			if err != nil {
				t.Errorf("ValidateName(%q) = %v, want nil", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidateName(%q) = %v, want ErrInvalidName", tc.name, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.message) {
			t.Errorf("ValidateName(%q) = %q, want it to mention %q", tc.name, err, tc.message)
		}
		if len(err.Error()) > 200 {
			t.Errorf("ValidateName(%q): error message is %d bytes long", tc.name, len(err.Error()))
		}
	}
}

func TestGenerateName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		slug string // expected "tenant_<slug>_"; "" means "tenant_<hex>"
	}{
		{"Acme", "acme"},
		{"Acme Corp.", "acme_corp"},
		{"  Acme -- Corp  ", "acme_corp"},
		{"ACME_corp_2024", "acme_corp_2024"},
		{"a__b", "a_b"},
		{"Café Crème", "caf_cr_me"},
		{"Ünïcödé", "n_c_d"},
		{"租户", ""},
		{"Компания", ""},
		{"!!!", ""},
		{"___", ""},
		{"", ""},
		{"😀 smile 😀", "smile"},
		{"123", "123"},
		{"\u212a", "k"}, // KELVIN SIGN lower-cases to ASCII k
		{strings.Repeat("a", 100), strings.Repeat("a", 47)},
		{strings.Repeat("ab ", 40), "ab_ab_ab_ab_ab_ab_ab_ab_ab_ab_ab_ab_ab_ab_ab_ab"},
		{strings.Repeat("a", 46) + " b", strings.Repeat("a", 46)},
		{strings.Repeat("a", 45) + " bcd", strings.Repeat("a", 45) + "_b"},
	}
	for _, tc := range tests {
		got := GenerateName(tc.in)
		if err := ValidateName(got); err != nil {
			t.Errorf("GenerateName(%q) = %q: %v", tc.in, got, err)
		}
		var prefix string
		if tc.slug == "" {
			prefix = "tenant_"
		} else {
			prefix = "tenant_" + tc.slug + "_"
		}
		rest, ok := strings.CutPrefix(got, prefix)
		if !ok || !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(rest) {
			t.Errorf("GenerateName(%q) = %q, want %s<8 hex>", tc.in, got, prefix)
		}
		if len(got) > MaxNameLen {
			t.Errorf("GenerateName(%q) = %q is %d bytes long", tc.in, got, len(got))
		}
	}
	// Random suffix: two calls differ.
	seen := make(map[string]bool)
	for range 100 {
		n := GenerateName("acme")
		if seen[n] {
			t.Fatalf("GenerateName repeated %q", n)
		}
		seen[n] = true
	}
}

func TestQuoteIdent(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"tenant_a", `"tenant_a"`},
		{"", `""`},
		{`a"b`, `"a""b"`},
		{`"`, `""""`},
		{`x"; DROP TABLE t; --`, `"x""; DROP TABLE t; --"`},
	}
	for _, tc := range tests {
		if got := QuoteIdent(tc.in); got != tc.want {
			t.Errorf("QuoteIdent(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func FuzzGenerateName(f *testing.F) {
	for _, s := range []string{"", "Acme", "租户", "!!!", strings.Repeat("ab-", 50), "\u212a\u0130", "a\x00b", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := GenerateName(s)
		if err := ValidateName(n); err != nil {
			t.Fatalf("GenerateName(%q) = %q: %v", s, n, err)
		}
		if !strings.HasPrefix(n, "tenant_") {
			t.Fatalf("GenerateName(%q) = %q lacks the tenant_ prefix", s, n)
		}
	})
}

func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"", "a", "tenant_x_0123abcd", "A", "1a", "a-b", strings.Repeat("a", 63), strings.Repeat("a", 64), "ä"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidateName(s)
		if match := nameRE.MatchString(s); match != (err == nil) {
			t.Fatalf("ValidateName(%q) = %v, regexp match = %v", s, err, match)
		}
		if err != nil && !errors.Is(err, ErrInvalidName) {
			t.Fatalf("ValidateName(%q) = %v, does not wrap ErrInvalidName", s, err)
		}
	})
}

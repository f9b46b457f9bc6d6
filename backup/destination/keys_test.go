package destination

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestValidateKey(t *testing.T) {
	t.Parallel()
	for _, key := range []string{
		"a",
		"tenant/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b/2026-12-04T17:00:00Z.sql.gz",
		"exports/tenant 1/data.json",
		"a.b/c..d/...e", // dots inside a segment are fine
		"unicodé/ключ",
		"backup.tmp", // not a temporary file's name
		"x.zz.tmp",   // nor this (not hex)
		"attrs/x",    // only the suffix is reserved
		strings.Repeat("k", MaxKeyLen),
	} {
		if err := ValidateKey(key); err != nil {
			t.Errorf("ValidateKey(%q) = %v, want nil", key, err)
		}
	}
	for key, reason := range map[string]string{
		"":                               "empty",
		"/a":                             "starts with a slash",
		"a/":                             "ends with a slash",
		"a//b":                           "empty segment",
		"..":                             ".. segment",
		"../a":                           ".. segment",
		"a/../b":                         ".. segment",
		"a/..":                           ".. segment",
		"./a":                            ". segment",
		`a\b`:                            "backslash",
		`..\a`:                           "backslash",
		"a\x00b":                         "control character",
		"a\nb":                           "control character",
		"a\x7fb":                         "control character",
		"\xff":                           "UTF-8",
		"x.attrs":                        "file store",
		"dump.18771c0d2e4f5a6b.tmp":      "file store",
		strings.Repeat("k", MaxKeyLen+1): "longer",
	} {
		err := ValidateKey(key)
		var ke *KeyError
		if !errors.As(err, &ke) {
			t.Errorf("ValidateKey(%q) = %v, want a *KeyError", key, err)
			continue
		}
		if !strings.Contains(ke.Reason, reason) {
			t.Errorf("ValidateKey(%q) = %q, want it to say %q", key, ke.Reason, reason)
		}
	}
}

func TestValidatePrefix(t *testing.T) {
	t.Parallel()
	for _, prefix := range []string{"", "a", "a/", "a/b", "a/b/", "tenant/2026-"} {
		if err := validatePrefix(prefix); err != nil {
			t.Errorf("validatePrefix(%q) = %v", prefix, err)
		}
	}
	for _, prefix := range []string{"/", "/a", "a//", "../", "a/../", `a\`, "a\x00"} {
		if err := validatePrefix(prefix); err == nil {
			t.Errorf("validatePrefix(%q) = nil, want an error", prefix)
		}
	}
}

// A key ValidateKey accepts is a plain relative path on every store.
func FuzzValidateKey(f *testing.F) {
	for _, seed := range []string{"a", "a/b", "../a", "a//b", `a\b`, "/a", "a/", ".", "x.attrs", "x.1f.tmp", "é/\x00"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, key string) {
		if ValidateKey(key) != nil {
			return
		}
		switch {
		case key == "", len(key) > MaxKeyLen, !utf8.ValidString(key),
			strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"),
			strings.Contains(key, "//"), strings.Contains(key, `\`),
			strings.HasSuffix(key, ".attrs"), tempName.MatchString(key):
			t.Fatalf("ValidateKey accepted %q", key)
		}
		for seg := range strings.SplitSeq(key, "/") {
			if seg == "." || seg == ".." {
				t.Fatalf("ValidateKey accepted %q", key)
			}
		}
		for _, r := range key {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("ValidateKey accepted %q", key)
			}
		}
		if validatePrefix(key) != nil {
			t.Fatalf("a valid key %q is not a valid prefix", key)
		}
	})
}

package destination

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key, in bytes, that every store accepts.
const MaxKeyLen = 1024

// tempName matches the names fileblob gives the temporary file of a write
// in progress ("KEY.<hex nanoseconds>.tmp", next to the final file). List
// hides them and ValidateKey refuses them, so that no key collides with one.
var tempName = regexp.MustCompile(`\.[0-9a-f]{1,16}\.tmp$`)

// attrsSuffix is the suffix fileblob reserves for its metadata files.
const attrsSuffix = ".attrs"

// ValidateKey reports whether key may name an object: a slash-separated
// path of at most MaxKeyLen bytes of UTF-8 without a leading or trailing
// slash, an empty, "." or ".." segment, a backslash or a control
// character, and not ending in ".attrs" or ".<hex>.tmp" (names the file
// store keeps for itself). The error is a *KeyError.
func ValidateKey(key string) error {
	if key == "" {
		return &KeyError{Key: key, Reason: "empty"}
	}
	if strings.HasSuffix(key, "/") {
		return &KeyError{Key: key, Reason: "ends with a slash"}
	}
	if err := validatePath(key); err != nil {
		return err
	}
	if strings.HasSuffix(key, attrsSuffix) || tempName.MatchString(key) {
		return &KeyError{Key: key, Reason: `ends like a file store's own file (".attrs", ".<hex>.tmp")`}
	}
	return nil
}

// validatePrefix reports whether prefix may start the keys that List
// returns: "" or the start of a valid key, which may end with a slash.
func validatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return validatePath(strings.TrimSuffix(prefix, "/"))
}

// validatePath checks what keys and prefixes share.
func validatePath(p string) error {
	switch {
	case len(p) > MaxKeyLen:
		return &KeyError{Key: p[:64] + "…", Reason: "longer than 1024 bytes"}
	case !utf8.ValidString(p):
		return &KeyError{Key: p, Reason: "not valid UTF-8"}
	case strings.HasPrefix(p, "/"):
		return &KeyError{Key: p, Reason: "starts with a slash"}
	case strings.Contains(p, `\`):
		return &KeyError{Key: p, Reason: "contains a backslash"}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return &KeyError{Key: p, Reason: "contains a control character"}
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		switch seg {
		case "":
			return &KeyError{Key: p, Reason: "has an empty segment"}
		case ".", "..":
			return &KeyError{Key: p, Reason: "has a " + seg + ` segment`}
		}
	}
	return nil
}

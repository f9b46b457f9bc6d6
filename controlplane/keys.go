package controlplane

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/gotenancy/tenancy/model"
)

// keyPrefix starts every API key, so keys are easy to recognise in logs
// and secret scanners.
const keyPrefix = "tnk_"

var keyNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$`)

// ParseScopes parses "read,write,admin"; empty means read.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for part := range strings.SplitSeq(s, ",") {
		sc := Scope(strings.ToLower(strings.TrimSpace(part)))
		switch sc {
		case "":
			continue
		case ScopeRead, ScopeWrite, ScopeAdmin:
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		default:
			return nil, &model.ValidationError{Field: "scopes", Reason: fmt.Sprintf("unknown scope %q (want read, write or admin)", part)}
		}
	}
	if len(out) == 0 {
		out = []Scope{ScopeRead}
	}
	return out, nil
}

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// CreateAPIKey makes a key; the returned secret is shown once and never stored.
func (c *ControlPlane) CreateAPIKey(ctx context.Context, name string, scopes []Scope) (*APIKey, string, error) {
	if !keyNameRE.MatchString(name) {
		return nil, "", &model.ValidationError{Field: "name", Reason: fmt.Sprintf("%q must be 1-64 letters, digits or _.@- starting with a letter or digit", name)}
	}
	if len(scopes) == 0 {
		scopes = []Scope{ScopeRead}
	}
	for _, s := range scopes {
		if s != ScopeRead && s != ScopeWrite && s != ScopeAdmin {
			return nil, "", &model.ValidationError{Field: "scopes", Reason: fmt.Sprintf("unknown scope %q", s)}
		}
	}
	id := strings.ToLower(rand.Text()[:8])
	secret := keyPrefix + id + "_" + rand.Text()
	k := &APIKey{Name: name, Prefix: id, Hash: hashKey(secret), Scopes: scopes}
	if err := c.store.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	c.recordAudit(ctx, "api_key.create", "", nil, jsonValue(k), nil)
	return k, secret, nil
}

// VerifyAPIKey returns the stored key matching secret, comparing hashes in
// constant time; unknown, malformed and revoked keys give ErrInvalidKey.
func (c *ControlPlane) VerifyAPIKey(ctx context.Context, secret string) (*APIKey, error) {
	rest, ok := strings.CutPrefix(secret, keyPrefix)
	if !ok || len(rest) < 10 || rest[8] != '_' {
		return nil, ErrInvalidKey
	}
	k, err := c.store.APIKeyByPrefix(ctx, rest[:8])
	if errors.Is(err, model.ErrNotFound) {
		return nil, ErrInvalidKey
	}
	if err != nil {
		return nil, err
	}
	if subtle.ConstantTimeCompare(hashKey(secret), k.Hash) != 1 || k.RevokedAt != nil {
		return nil, ErrInvalidKey
	}
	return k, nil
}

// APIKeys lists the keys (without secrets).
func (c *ControlPlane) APIKeys(ctx context.Context) ([]APIKey, error) {
	return c.store.ListAPIKeys(ctx)
}

// RevokeAPIKey revokes the key with this name or prefix.
func (c *ControlPlane) RevokeAPIKey(ctx context.Context, nameOrPrefix string) error {
	if err := c.store.RevokeAPIKey(ctx, nameOrPrefix); err != nil {
		if errors.Is(err, model.ErrNotFound) {
			return fmt.Errorf("%w: no API key named %q", model.ErrNotFound, nameOrPrefix)
		}
		return err
	}
	c.recordAudit(ctx, "api_key.revoke", "", jsonValue(map[string]string{"key": nameOrPrefix}), nil, nil)
	return nil
}

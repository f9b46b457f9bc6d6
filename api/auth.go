package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gotenancy/tenancy/controlplane"
)

// Names the audit log records for the environment's credentials.
const (
	envAPIKeyActor      = "env:TENANT_API_KEY"
	envBearerTokenActor = "env:TENANT_BEARER_TOKEN"
)

// unauthorizedMessage is the reference's 401 message, kept word for word.
const unauthorizedMessage = "Invalid or missing API key. Please include X-API-Key header."

// noCredentialMessage answers when nothing could ever authenticate.
const noCredentialMessage = "No API credential is configured on this server. Create an API key with " +
	"`tenancy api-key create --name NAME --scopes admin` (or set TENANT_API_KEY) and send it in the X-API-Key header."

// principal is who a request authenticated as.
type principal struct {
	// id keys the credential's rate limit.
	id string
	// name is the actor the audit log records.
	name string
	// key is the stored key; nil for the environment's credentials.
	key *controlplane.APIKey
}

// allows reports whether the principal has scope. The environment's
// credentials are admin.
func (p *principal) allows(s controlplane.Scope) bool {
	if p.key == nil {
		return true
	}
	return p.key.Allows(s)
}

var (
	envAPIKeyPrincipal      = &principal{id: "env:api_key", name: envAPIKeyActor}
	envBearerTokenPrincipal = &principal{id: "env:bearer_token", name: envBearerTokenActor}
)

// credential returns the secret a request presents: X-API-Key, or else an
// Authorization: Bearer token.
func credential(r *http.Request) (secret string, bearer bool) {
	if k := strings.TrimSpace(r.Header.Get("X-Api-Key")); k != "" {
		return k, false
	}
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:]), true
	}
	return "", false
}

// equalSecret compares a presented secret with a configured one in
// constant time (over their hashes, so the length does not leak either).
func equalSecret(presented string, want [32]byte) bool {
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// authenticate finds the request's principal or returns the 401 to answer.
func (a *API) authenticate(r *http.Request) (*principal, error) {
	secret, bearer := credential(r)
	if secret == "" {
		return nil, a.unauthorized(r.Context())
	}
	if a.cfg.EnvAPIKey != "" && equalSecret(secret, a.keys.envAPIKey) {
		return envAPIKeyPrincipal, nil
	}
	if bearer && a.cfg.EnvBearerToken != "" && equalSecret(secret, a.keys.envBearer) {
		return envBearerTokenPrincipal, nil
	}
	p, err := a.keys.verify(r.Context(), a.cp, secret, a.now())
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, controlplane.ErrInvalidKey):
		return nil, a.unauthorized(r.Context())
	default:
		return nil, &apiError{Status: http.StatusInternalServerError, Err: err}
	}
}

// unauthorized is the 401: the reference's message, or an explanation of
// how to create a credential when none is configured at all.
func (a *API) unauthorized(ctx context.Context) error {
	msg := unauthorizedMessage
	if a.cfg.EnvAPIKey == "" && a.cfg.EnvBearerToken == "" && !a.keys.anyKeys(ctx, a.cp, a.now(), a.log) {
		msg = noCredentialMessage
	}
	return &apiError{Status: http.StatusUnauthorized, Message: msg}
}

// maxCachedKeys bounds each of the key cache's maps.
const maxCachedKeys = 4096

// keyCache remembers API key verifications for a short time, keyed by the
// SHA-256 of the secret, so that an authenticated request costs no catalog
// query. The catalog's watcher empties it on every change (invalidate),
// so a revoked key stops working within the change feed's latency; the
// TTL bounds how long a verification is trusted without a watcher. Both maps are bounded: when one is full, its expired entries are
// dropped, and when none has expired it is emptied.
type keyCache struct {
	ttl time.Duration
	max int // entries per map

	envAPIKey, envBearer [32]byte

	mu   sync.RWMutex
	good map[[32]byte]goodKey
	bad  map[[32]byte]time.Time // until when the secret is known to be invalid
	// gen counts invalidations: a verification that began before one is
	// not remembered, since it may have read the key before it changed.
	gen uint64

	anyMu    sync.Mutex
	anyUntil time.Time
	anyVal   bool
}

type goodKey struct {
	p     *principal
	until time.Time
}

func newKeyCache(ttl time.Duration) *keyCache {
	return &keyCache{ttl: ttl, max: maxCachedKeys, good: map[[32]byte]goodKey{}, bad: map[[32]byte]time.Time{}}
}

// setEnv records the hashes of the environment's credentials.
func (c *keyCache) setEnv(apiKey, bearer string) {
	c.envAPIKey = sha256.Sum256([]byte(apiKey))
	c.envBearer = sha256.Sum256([]byte(bearer))
}

// verify returns the principal of a stored key.
func (c *keyCache) verify(ctx context.Context, m *controlplane.ControlPlane, secret string, now time.Time) (*principal, error) {
	if c.ttl < 0 {
		k, err := m.VerifyAPIKey(ctx, secret)
		if err != nil {
			return nil, err
		}
		return keyPrincipal(k), nil
	}
	h := sha256.Sum256([]byte(secret))
	c.mu.RLock()
	g, isGood := c.good[h]
	b, isBad := c.bad[h]
	gen := c.gen
	c.mu.RUnlock()
	if isGood && now.Before(g.until) {
		return g.p, nil
	}
	if isBad && now.Before(b) {
		return nil, controlplane.ErrInvalidKey
	}
	k, err := m.VerifyAPIKey(ctx, secret)
	until := now.Add(c.ttl)
	switch {
	case err == nil:
		p := keyPrincipal(k)
		c.mu.Lock()
		if c.gen == gen {
			delete(c.bad, h)
			makeRoom(c.good, c.max, now, func(e goodKey) time.Time { return e.until })
			c.good[h] = goodKey{p: p, until: until}
		}
		c.mu.Unlock()
		return p, nil
	case errors.Is(err, controlplane.ErrInvalidKey):
		c.mu.Lock()
		if c.gen == gen {
			delete(c.good, h)
			makeRoom(c.bad, c.max, now, func(t time.Time) time.Time { return t })
			c.bad[h] = until
		}
		c.mu.Unlock()
	}
	return nil, err
}

// invalidate forgets every remembered verification (and whether the
// catalog holds any key): the catalog changed, a key may have been
// created or revoked.
func (c *keyCache) invalidate() {
	c.mu.Lock()
	c.gen++
	clear(c.good)
	clear(c.bad)
	c.mu.Unlock()
	c.anyMu.Lock()
	c.anyUntil = time.Time{}
	c.anyMu.Unlock()
}

// makeRoom keeps a cache map under limit entries.
func makeRoom[V any](m map[[32]byte]V, limit int, now time.Time, until func(V) time.Time) {
	if len(m) < limit {
		return
	}
	for k, v := range m {
		if !now.Before(until(v)) {
			delete(m, k)
		}
	}
	if len(m) >= limit {
		clear(m)
	}
}

func keyPrincipal(k *controlplane.APIKey) *principal {
	return &principal{id: "key:" + strconv.FormatInt(k.ID, 10), name: k.Name, key: k}
}

// anyKeys reports whether the catalog holds an active API key, remembered
// for the cache's TTL. When the catalog cannot be read it says yes, so the
// answer is the plain 401.
func (c *keyCache) anyKeys(ctx context.Context, m *controlplane.ControlPlane, now time.Time, log *slog.Logger) bool {
	c.anyMu.Lock()
	defer c.anyMu.Unlock()
	if c.ttl >= 0 && now.Before(c.anyUntil) {
		return c.anyVal
	}
	keys, err := m.APIKeys(ctx)
	if err != nil {
		log.WarnContext(ctx, "api: listing API keys", "err", err)
		return true
	}
	c.anyVal = false
	for _, k := range keys {
		if k.RevokedAt == nil {
			c.anyVal = true
			break
		}
	}
	c.anyUntil = now.Add(max(c.ttl, 0))
	return c.anyVal
}

// Allows reports whether the request carries a valid credential (an API
// key, or the environment's key or bearer token) that has scope. Other
// surfaces of the same server, such as the dashboard's monitoring routes,
// use it to accept API clients.
func (a *API) Allows(r *http.Request, scope controlplane.Scope) bool {
	p, err := a.authenticate(r)
	if err != nil {
		return false
	}
	return p.allows(scope)
}

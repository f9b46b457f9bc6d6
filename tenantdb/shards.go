package tenantdb

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
)

// ErrUnknownShard is returned (wrapped, with the name) when a shard name is
// not one of a provisioner's shards.
var ErrUnknownShard = errors.New("unknown shard")

// Shard is one database server that tenant databases can live on.
//
// URL is an administrative connection to the server: its database is the
// one the provisioner connects to in order to create and drop tenant
// databases (postgres-database, mysql-database) or the one holding the
// tenants' schemas or shared tables (postgres-schema, postgres-rls). A
// tenant's own connections use the same server and credentials with the
// tenant's database.
type Shard struct {
	// Name identifies the shard in tenant records and on the command line;
	// it matches ^[a-z][a-z0-9_]{0,62}$ like a database name.
	Name string
	// URL is the administrative connection URL, e.g.
	// postgres://tenancy@db1:5432/postgres or
	// mysql://tenancy:secret@db2:3306/?parseTime=true.
	URL string
}

// String returns "name=url" with any password in the URL redacted.
func (s Shard) String() string {
	return s.Name + "=" + RedactURL(s.URL)
}

// RedactURL hides the password of a URL; strings that are not URLs are
// replaced wholesale, since a DSN may hold a password anywhere.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || (u.Host == "" && u.User == nil) {
		return "(redacted)"
	}
	return u.Redacted()
}

// ParseShards parses the --shards flag syntax, "name=url,name=url": a comma
// separated list of shard names, each with the administrative URL of one
// database server. Spaces around entries are ignored, and an empty (or blank)
// string gives no shards and no error. Names must be valid identifiers
// (^[a-z][a-z0-9_]{0,62}$) and unique; URLs must be absolute URLs with a
// scheme and a host ("postgres://", "postgresql://" or "mysql://").
//
// A comma inside a URL (PostgreSQL's multi-host form
// postgres://u@h1:5432,h2:5432/db) is kept in that URL: a new entry starts
// only at a comma followed by "name=scheme://". Error messages never
// include a URL's password.
func ParseShards(s string) ([]Shard, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var entries []string
	for _, part := range strings.Split(s, ",") {
		if len(entries) > 0 && strings.TrimSpace(part) != "" && !startsShard(strings.TrimSpace(part)) {
			entries[len(entries)-1] += "," + part
			continue
		}
		entries = append(entries, part)
	}
	shards := make([]Shard, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		e = strings.TrimSpace(e)
		name, rawURL, ok := strings.Cut(e, "=")
		if !ok {
			if e == "" {
				return nil, fmt.Errorf("tenantdb: shards: entry %d is empty (want name=url)", i+1)
			}
			return nil, fmt.Errorf("tenantdb: shards: entry %d has no \"=\" (want name=url)", i+1)
		}
		name = strings.TrimSpace(name)
		if err := validateShardName(name); err != nil {
			return nil, fmt.Errorf("tenantdb: shards: entry %d: %w", i+1, err)
		}
		if seen[name] {
			return nil, fmt.Errorf("tenantdb: shards: shard %q is listed twice", name)
		}
		seen[name] = true
		rawURL = strings.TrimSpace(rawURL)
		if err := checkShardURL(rawURL); err != nil {
			return nil, fmt.Errorf("tenantdb: shards: shard %q: %w", name, err)
		}
		shards = append(shards, Shard{Name: name, URL: rawURL})
	}
	return shards, nil
}

// startsShard reports whether an entry of the flag looks like the start of
// a new shard: "name=scheme://".
func startsShard(e string) bool {
	name, rest, ok := strings.Cut(e, "=")
	if !ok || ValidateName(strings.TrimSpace(name)) != nil {
		return false
	}
	scheme, _, ok := strings.Cut(strings.TrimSpace(rest), "://")
	if !ok || scheme == "" {
		return false
	}
	for i, c := range scheme {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return true
}

// validateShardName checks a shard name like a database name.
func validateShardName(name string) error {
	if err := ValidateName(name); err != nil {
		// ValidateName's message talks about database names.
		msg := strings.TrimPrefix(err.Error(), ErrInvalidName.Error())
		return fmt.Errorf("invalid shard name%s (want ^[a-z][a-z0-9_]{0,62}$)", msg)
	}
	return nil
}

// checkShardURL checks that a flag URL is an absolute URL with a known
// scheme and a host, without echoing it (it may hold a password).
func checkShardURL(raw string) error {
	if raw == "" {
		return errors.New("URL is empty")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the URL, password included
		}
		return fmt.Errorf("invalid URL: %v", err)
	}
	switch strings.ToLower(u.Scheme) {
	case "postgres", "postgresql", "mysql":
	case "":
		return errors.New("URL has no scheme (want postgres://, postgresql:// or mysql://)")
	default:
		return fmt.Errorf("URL scheme %q is not supported (want postgres, postgresql or mysql)", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("URL has no host")
	}
	return nil
}

// shardKey is the context key of WithShard.
type shardKey struct{}

// WithShard returns a context that tells a sharded provisioner's Create to
// put the database on the named shard. The Manager sets it from the tenant
// record's shard (chosen with PickShard when the tenant has none).
func WithShard(ctx context.Context, shard string) context.Context {
	return context.WithValue(ctx, shardKey{}, shard)
}

// ShardFromContext returns the shard set by WithShard, or "".
func ShardFromContext(ctx context.Context) string {
	s, _ := ctx.Value(shardKey{}).(string)
	return s
}

// Sharded is implemented by the provisioners that spread tenant databases
// over several servers (PostgresDatabase, PostgresSchema, PostgresRLS,
// MySQLDatabase).
//
// Only Create needs to be told a shard, through WithShard; without one it
// picks one itself with PickShard. Every other method finds the database on
// whichever shard holds it (names are unique across shards) and remembers
// the answer, so callers never pass a shard to them.
type Sharded interface {
	// Shards lists the shard names in configuration order.
	Shards() []string
	// PickShard returns the shard holding the fewest tenant databases
	// (ties go to the earliest shard in configuration order).
	PickShard(ctx context.Context) (string, error)
	// ShardOf returns the shard holding the named database, or an error
	// wrapping ErrNotExist.
	ShardOf(ctx context.Context, name string) (string, error)
}

// Budgeted is implemented by the provisioners that bound the connections of
// their tenant pools.
type Budgeted interface {
	// MaxOpenTenants is the ConnConfig.MaxOpen that keeps the total number
	// of tenant connections within the provisioner's budget.
	MaxOpenTenants() int
}

// ShardSet is the shard bookkeeping shared by the server provisioners: the
// configured shards, a cache of which shard holds which database, and a
// per-name lock serialising the Creates (and Drops) of one name in this
// process.
type ShardSet struct {
	// Names are the shard names, in configuration order.
	Names []string
	// exists reports whether shard i holds the named database.
	exists func(ctx context.Context, i int, name string) (bool, error)
	// count returns the number of tenant databases on shard i.
	count func(ctx context.Context, i int) (int, error)

	mu    sync.Mutex
	where map[string]int // database name -> shard index
	locks map[string]*nameLock
}

type nameLock struct {
	mu   sync.Mutex
	refs int
}

// NewShardSet returns the shard set of the named shards; exists and count
// query one shard by index.
func NewShardSet(names []string, exists func(context.Context, int, string) (bool, error), count func(context.Context, int) (int, error)) *ShardSet {
	return &ShardSet{
		Names:  names,
		exists: exists,
		count:  count,
		where:  make(map[string]int),
		locks:  make(map[string]*nameLock),
	}
}

// CheckShards validates a configuration's shard list: at least one, valid
// unique names, non-empty URLs.
func CheckShards(what string, shards []Shard) ([]string, error) {
	if len(shards) == 0 {
		return nil, fmt.Errorf("tenantdb: %s config: at least one shard is required", what)
	}
	names := make([]string, len(shards))
	seen := make(map[string]bool, len(shards))
	for i, s := range shards {
		if err := validateShardName(s.Name); err != nil {
			return nil, fmt.Errorf("tenantdb: %s config: shard %d: %w", what, i+1, err)
		}
		if seen[s.Name] {
			return nil, fmt.Errorf("tenantdb: %s config: shard %q is listed twice", what, s.Name)
		}
		seen[s.Name] = true
		if strings.TrimSpace(s.URL) == "" {
			return nil, fmt.Errorf("tenantdb: %s config: shard %q has no URL", what, s.Name)
		}
		names[i] = s.Name
	}
	return names, nil
}

// Index returns the index of the named shard.
func (s *ShardSet) Index(name string) (int, error) {
	for i, n := range s.Names {
		if n == name {
			return i, nil
		}
	}
	return 0, fmt.Errorf("tenantdb: %w %q (shards: %s)", ErrUnknownShard, name, strings.Join(s.Names, ", "))
}

// Target returns the shard Create should use: the context's, or the one
// with the fewest tenants.
func (s *ShardSet) Target(ctx context.Context) (int, error) {
	if name := ShardFromContext(ctx); name != "" {
		return s.Index(name)
	}
	if len(s.Names) == 1 {
		return 0, nil
	}
	return s.Pick(ctx)
}

// Pick returns the index of the shard with the fewest tenant databases.
func (s *ShardSet) Pick(ctx context.Context) (int, error) {
	best, bestN := 0, -1
	for i := range s.Names {
		n, err := s.count(ctx, i)
		if err != nil {
			return 0, fmt.Errorf("tenantdb: count tenants on shard %q: %w", s.Names[i], err)
		}
		if bestN < 0 || n < bestN {
			best, bestN = i, n
		}
	}
	return best, nil
}

// Cached returns the remembered shard of name.
func (s *ShardSet) Cached(name string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.where[name]
	return i, ok
}

func (s *ShardSet) Remember(name string, i int) {
	s.mu.Lock()
	s.where[name] = i
	s.mu.Unlock()
}

func (s *ShardSet) Forget(name string) {
	s.mu.Lock()
	delete(s.where, name)
	s.mu.Unlock()
}

// Locate returns the shard holding name, checking with the servers: the
// remembered shard first, then the others in order. ok is false when no
// shard holds it.
func (s *ShardSet) Locate(ctx context.Context, name string) (i int, ok bool, err error) {
	first, hasFirst := s.Cached(name)
	if hasFirst {
		found, err := s.exists(ctx, first, name)
		if err != nil {
			return 0, false, fmt.Errorf("shard %q: %w", s.Names[first], err)
		}
		if found {
			return first, true, nil
		}
	}
	for i := range s.Names {
		if hasFirst && i == first {
			continue
		}
		found, err := s.exists(ctx, i, name)
		if err != nil {
			return 0, false, fmt.Errorf("shard %q: %w", s.Names[i], err)
		}
		if found {
			s.Remember(name, i)
			return i, true, nil
		}
	}
	s.Forget(name)
	return 0, false, nil
}

// Lookup is locate trusting the cache: it asks the servers only about names
// it has not seen. Callers that then fail to find the database there call
// Locate.
func (s *ShardSet) Lookup(ctx context.Context, name string) (int, bool, error) {
	if i, ok := s.Cached(name); ok {
		return i, true, nil
	}
	return s.Locate(ctx, name)
}

// Lock serialises Create and Drop of one name within the process; it
// returns the unlock function.
func (s *ShardSet) Lock(name string) func() {
	s.mu.Lock()
	l := s.locks[name]
	if l == nil {
		l = &nameLock{}
		s.locks[name] = l
	}
	l.refs++
	s.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		s.mu.Lock()
		l.refs--
		if l.refs == 0 {
			delete(s.locks, name)
		}
		s.mu.Unlock()
	}
}

// ShardOf implements Sharded.ShardOf.
func (s *ShardSet) ShardOf(ctx context.Context, name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	i, ok, err := s.Locate(ctx, name)
	if err != nil {
		return "", fmt.Errorf("tenantdb: find database %q: %w", name, err)
	}
	if !ok {
		return "", fmt.Errorf("tenantdb: find database %q: %w", name, ErrNotExist)
	}
	return s.Names[i], nil
}

// PickShard implements Sharded.PickShard.
func (s *ShardSet) PickShard(ctx context.Context) (string, error) {
	i, err := s.Pick(ctx)
	if err != nil {
		return "", err
	}
	return s.Names[i], nil
}

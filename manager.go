package tenancy

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/gotenancy/tenancy/migrate"
	"github.com/gotenancy/tenancy/seed"
	"github.com/gotenancy/tenancy/tenantdb"
)

// Config configures a Manager.
type Config struct {
	// Store is the central catalog; required.
	Store Store
	// Provisioner creates, drops and opens tenant databases; required.
	Provisioner tenantdb.Provisioner
	// Connections pools tenant database handles. When nil the Manager makes
	// one with ConnConfig and closes it on Close.
	Connections *tenantdb.ConnManager
	// ConnConfig configures the pool the Manager makes; nil means defaults.
	ConnConfig *tenantdb.ConnConfig
	// Migrations are applied to tenant databases; nil means none.
	Migrations *migrate.Set
	// Seeders are the named seeders; nil means none.
	Seeders *seed.Registry
	// Now is the clock of operation durations and request timings; default
	// time.Now. (Waiting for a tenant lock and renewing it run on real
	// time: they talk to the catalog, whose lease expiry is the server's.)
	Now func() time.Time
	// Logger receives hook failures and other diagnostics; default slog.Default().
	Logger *slog.Logger
	// AutoMigrate applies the tenant migrations to every tenant Create
	// makes, and AutoSeed also runs every seeder (TENANT_AUTO_MIGRATE,
	// TENANT_AUTO_SEED), unless the request is Bare.
	AutoMigrate, AutoSeed bool
	// DatabasePrefix begins generated database names (default "tenant_";
	// TENANT_DB_PREFIX); see tenantdb.ValidatePrefix.
	DatabasePrefix string
	// Audit receives an entry for every change the Manager makes (and every
	// fleet run, repair and failed change). When nil, the Store is used if
	// it implements AuditRecorder (the project's catalog stores do);
	// otherwise nothing is recorded.
	Audit AuditRecorder
	// Bootstrappers prepare tenant-scoped resources for Run and Enter, in order.
	Bootstrappers []Bootstrapper
	// CentralDomains are the hosts of the control plane (such as
	// "localhost"); they are refused as tenant domains. Subdomains of
	// them are fine.
	CentralDomains []string
	// LockTTL is how long a tenant lock's lease lives without renewal
	// (SQLite and MySQL catalogs); default DefaultLockTTL.
	LockTTL time.Duration
	// LockWait is how long a one-tenant operation (migrate, seed, delete…)
	// waits for the tenant's lock held by another operation before it
	// fails with a *LockedError; default DefaultLockWait. Fleet runs have
	// their own FleetOptions.LockWait.
	LockWait time.Duration
}

// Manager is the one service layer over tenants: the CLI, the REST API, the
// dashboard and jobs all go through it, so validation, events and
// bookkeeping live in one place. It is safe for concurrent use.
type Manager struct {
	// autoMigrate, autoSeed and dbPrefix are Config's.
	autoMigrate, autoSeed bool
	dbPrefix              string

	store      Store
	prov       tenantdb.Provisioner
	conns      *tenantdb.ConnManager
	ownsConns  bool
	migrations *migrate.Set
	seeders    *seed.Registry
	log        *slog.Logger
	now        func() time.Time
	auditor    AuditRecorder
	lockTTL    time.Duration
	lockWait   time.Duration
	// central are the normalised central domains, refused as tenant domains.
	central map[string]bool

	hooksMu sync.RWMutex
	hooks   map[EventKind][]*hookEntry

	// Set by New: the engine's resolver (for Handler) and the functions
	// that stop it and close the engine.
	resolver     RequestResolver
	stopResolver func()
	closeEngine  func() error

	bootMu        sync.RWMutex
	bootstrappers []Bootstrapper
}

// NewManager returns a Manager over cfg's store and provisioner.
func NewManager(cfg *Config) (*Manager, error) {
	if cfg == nil || cfg.Store == nil {
		return nil, errors.New("tenancy: Config.Store is required")
	}
	if cfg.Provisioner == nil {
		return nil, errors.New("tenancy: Config.Provisioner is required")
	}
	if err := cfg.Migrations.Err(); err != nil {
		return nil, fmt.Errorf("tenancy: %w", err)
	}
	prefix := cfg.DatabasePrefix
	if prefix == "" {
		prefix = "tenant_"
	} else if err := tenantdb.ValidatePrefix(prefix); err != nil {
		return nil, fmt.Errorf("tenancy: Config.DatabasePrefix: %w", err)
	}
	m := &Manager{
		autoMigrate: cfg.AutoMigrate,
		autoSeed:    cfg.AutoSeed,
		dbPrefix:    prefix,
		store:       cfg.Store,
		prov:        cfg.Provisioner,
		conns:       cfg.Connections,
		migrations:  cfg.Migrations,
		seeders:     cfg.Seeders,
		log:         cfg.Logger,
		now:         cfg.Now,
		auditor:     cfg.Audit,
		lockTTL:     cfg.LockTTL,
		lockWait:    cfg.LockWait,
		central:     centralSet(cfg.CentralDomains),
		hooks:       map[EventKind][]*hookEntry{},

		bootstrappers: slices.Clone(cfg.Bootstrappers),
	}
	if m.conns == nil {
		connCfg := tenantdb.ConnConfig{}
		if cfg.ConnConfig != nil {
			connCfg = *cfg.ConnConfig
		}
		// A provisioner with a connection budget bounds the open tenant
		// pools, so their connections together stay within it.
		if b, ok := cfg.Provisioner.(tenantdb.Budgeted); ok {
			if limit := b.MaxOpenTenants(); connCfg.MaxOpen == 0 || connCfg.MaxOpen > limit {
				connCfg.MaxOpen = limit
			}
		}
		conns, err := tenantdb.NewConnManager(cfg.Provisioner, &connCfg)
		if err != nil {
			return nil, fmt.Errorf("tenancy: %w", err)
		}
		m.conns, m.ownsConns = conns, true
	}
	if m.migrations == nil {
		empty, err := migrate.Load(nil)
		if err != nil {
			return nil, fmt.Errorf("tenancy: %w", err)
		}
		m.migrations = empty
	}
	if m.seeders == nil {
		m.seeders = seed.NewRegistry()
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.auditor == nil {
		m.auditor, _ = cfg.Store.(AuditRecorder)
	}
	if m.lockTTL < 0 || m.lockWait < 0 {
		return nil, errors.New("tenancy: Config.LockTTL and LockWait must not be negative")
	}
	if m.lockTTL == 0 {
		m.lockTTL = DefaultLockTTL
	}
	if m.lockWait == 0 {
		m.lockWait = DefaultLockWait
	}
	return m, nil
}

// Close closes the connection pool if the Manager made it and, for a
// Manager made by New, its resolver and engine. A store passed to
// NewManager is the caller's to close.
func (m *Manager) Close() error {
	if m.stopResolver != nil {
		m.stopResolver()
	}
	var err error
	if m.ownsConns {
		err = m.conns.Close()
	}
	if m.closeEngine != nil {
		err = errors.Join(err, m.closeEngine())
	}
	return err
}

// On registers a hook for an event kind and returns the function that
// removes it. Hooks run in registration order.
func (m *Manager) On(kind EventKind, h Hook) (unsubscribe func()) {
	entry := &hookEntry{fn: h}
	m.hooksMu.Lock()
	defer m.hooksMu.Unlock()
	m.hooks[kind] = append(m.hooks[kind], entry)
	return func() {
		m.hooksMu.Lock()
		defer m.hooksMu.Unlock()
		m.hooks[kind] = slices.DeleteFunc(slices.Clone(m.hooks[kind]), func(e *hookEntry) bool { return e == entry })
	}
}

// hookEntry is one registered hook; its address identifies it for
// unsubscribing.
type hookEntry struct{ fn Hook }

// emit runs the hooks of e.Kind. For vetoable kinds the first error is
// returned; for the others errors are logged.
func (m *Manager) emit(ctx context.Context, e Event) error {
	m.hooksMu.RLock()
	hooks := m.hooks[e.Kind]
	m.hooksMu.RUnlock()
	for _, h := range hooks {
		ev := e
		ev.Tenant = e.Tenant.Clone()
		if err := h.fn(ctx, ev); err != nil {
			if vetoable(e.Kind) {
				return fmt.Errorf("%s hook: %w", e.Kind, err)
			}
			m.log.ErrorContext(ctx, "tenant hook failed", "event", string(e.Kind), "tenant", e.Tenant.UUID, "err", err)
		}
	}
	return nil
}

// CreateRequest describes a tenant to create.
type CreateRequest struct {
	Name   string
	Domain string
	// DatabaseName is generated from Name when empty.
	DatabaseName string
	// Status defaults to active.
	Status   Status
	Notes    string
	Shard    string
	Settings map[string]any
	Data     map[string]any
	// Migrate applies the tenant migrations after creating the database.
	Migrate bool
	// Bare leaves out Config.AutoMigrate and AutoSeed: the caller fills
	// the database otherwise (an import, a restore).
	Bare bool
	// Seed runs Seeders (every seeder when empty) after migrating.
	Seed    bool
	Seeders []string
}

const (
	maxNameLen  = 255
	maxNotesLen = 64 << 10
	// maxMessageLen bounds a status reason and a maintenance message (the
	// catalogs store them as TEXT, at most 64 KiB on MySQL).
	maxMessageLen = 16 << 10
)

func validateName(name string) (string, error) {
	n := strings.TrimSpace(name)
	switch {
	case n == "":
		return "", &ValidationError{Field: "name", Reason: "must not be empty"}
	case !utf8.ValidString(n):
		return "", &ValidationError{Field: "name", Reason: "must be valid UTF-8"}
	case utf8.RuneCountInString(n) > maxNameLen:
		return "", &ValidationError{Field: "name", Reason: fmt.Sprintf("longer than %d characters", maxNameLen)}
	case strings.IndexFunc(n, unicode.IsControl) >= 0:
		return "", &ValidationError{Field: "name", Reason: "must not contain control characters"}
	}
	return n, nil
}

func validateNotes(notes string) error {
	return validateText("notes", notes, maxNotesLen)
}

// validateText checks free text for the catalog: valid UTF-8 of at most max
// bytes without NUL characters (which PostgreSQL cannot store).
func validateText(field, s string, max int) error {
	if len(s) > max || !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return &ValidationError{Field: field, Reason: fmt.Sprintf("must be valid UTF-8 of at most %d bytes without NUL characters", max)}
	}
	return nil
}

// validateObject checks a settings or data object: every key and string
// value (at any depth) must be valid UTF-8 without NUL characters, which
// PostgreSQL's jsonb cannot store.
func validateObject(field string, obj map[string]any) error {
	var check func(v any) bool
	check = func(v any) bool {
		switch v := v.(type) {
		case string:
			return utf8.ValidString(v) && !strings.ContainsRune(v, 0)
		case map[string]any:
			for k, e := range v {
				if !check(k) || !check(e) {
					return false
				}
			}
		case []any:
			for _, e := range v {
				if !check(e) {
					return false
				}
			}
		}
		return true
	}
	if !check(obj) {
		return &ValidationError{Field: field, Reason: "keys and strings must be valid UTF-8 without NUL characters"}
	}
	return nil
}

func validateDatabaseName(name string) error {
	if err := tenantdb.ValidateName(name); err != nil {
		return &ValidationError{Field: "database_name", Reason: fmt.Sprintf("%q must match ^[a-z][a-z0-9_]{0,62}$", name)}
	}
	return nil
}

// Create makes a tenant as one step: record, database, migrations (when
// asked) and seed (when asked). A failure at any step undoes the earlier
// ones, so either the tenant exists completely or nothing of it does.
func (m *Manager) Create(ctx context.Context, req CreateRequest) (*Tenant, error) {
	name, err := validateName(req.Name)
	if err != nil {
		return nil, err
	}
	domain, err := NormalizeDomain(req.Domain)
	if err != nil {
		return nil, err
	}
	if err := m.refuseCentral(domain); err != nil {
		return nil, err
	}
	if err := validateNotes(req.Notes); err != nil {
		return nil, err
	}
	if err := validateObject("settings", req.Settings); err != nil {
		return nil, err
	}
	if err := validateObject("data", req.Data); err != nil {
		return nil, err
	}
	status := req.Status
	if status == "" {
		status = StatusActive
	} else if !status.Valid() {
		if status, err = ParseStatus(string(req.Status)); err != nil {
			return nil, err
		}
	}
	if !req.Bare {
		req.Migrate = req.Migrate || m.autoMigrate || m.autoSeed
		req.Seed = req.Seed || m.autoSeed
	}
	dbName := req.DatabaseName
	if dbName == "" {
		dbName = tenantdb.GenerateNameWithPrefix(m.dbPrefix, name)
	} else if err := validateDatabaseName(dbName); err != nil {
		return nil, err
	}
	if req.Seed {
		for _, s := range req.Seeders {
			if !m.seeders.Has(s) {
				return nil, &ValidationError{Field: "seeder", Reason: fmt.Sprintf("unknown seeder %q", s)}
			}
		}
	}
	shard, err := m.chooseShard(ctx, req.Shard)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	t := &Tenant{
		UUID:         id.String(),
		Name:         name,
		Status:       StatusProvisioning,
		DatabaseName: dbName,
		Shard:        shard,
		Notes:        req.Notes,
		Settings:     req.Settings,
		Data:         req.Data,
		Generation:   1,
		Domains:      []Domain{{Domain: domain, IsPrimary: true}},
	}
	if err := m.emit(ctx, Event{Kind: EventCreating, Tenant: t}); err != nil {
		return nil, err
	}
	// The lock is taken before the record exists, so that nobody takes the
	// provisioning tenant for an abandoned one while it is being made.
	ctx, lock, err := m.lockTenant(ctx, t.UUID, "create", 0, nil)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	if err := m.insertProvisioning(ctx, t, domain); err != nil {
		m.audit(ctx, "tenant.create", nil, nil, err)
		return nil, err
	}
	start := m.now()
	version, err := m.provision(ctx, t, req)
	if err == nil {
		err = m.commit(ctx, t, status)
	}
	if err != nil {
		// Undo with a context that outlives a cancelled request. A
		// database that was there before is not ours to drop.
		undo := m.undoCreate
		if errors.Is(err, ErrDatabaseTaken) {
			undo = m.undoRecord
		}
		if uerr := undo(context.WithoutCancel(ctx), t); uerr != nil {
			err = errors.Join(err, uerr)
		}
		m.audit(ctx, "tenant.create", nil, nil, err)
		return nil, err
	}
	m.audit(ctx, "tenant.create", nil, t, nil)
	if req.Migrate {
		o := &Outcome{Tenant: t, UUID: t.UUID, State: StateSucceeded, To: version, Duration: m.now().Sub(start)}
		if err := m.record(ctx, OpMigrate, o); err != nil {
			m.log.WarnContext(ctx, "tenant created but its migration outcome was not recorded", "tenant", t.UUID, "err", err)
		}
	}
	m.emit(ctx, Event{Kind: EventCreated, Tenant: t})
	return t, nil
}

// insertProvisioning inserts the record of a tenant being created. When
// its domain or database name belongs to a tenant whose create or delete
// was interrupted (its process died), that tenant is repaired first and
// the insert tried again; one whose operation still runs is a
// *StateError.
func (m *Manager) insertProvisioning(ctx context.Context, t *Tenant, domain string) error {
	for attempt := 0; ; attempt++ {
		err := m.store.CreateTenant(ctx, t)
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrDomainTaken) && !errors.Is(err, ErrDatabaseTaken) {
			return fmt.Errorf("create tenant record: %w", err)
		}
		if attempt == 0 {
			repaired, rerr := m.repairHolderOf(ctx, domain, t.DatabaseName)
			if rerr != nil {
				return rerr
			}
			if repaired {
				continue
			}
		}
		if errors.Is(err, ErrDomainTaken) {
			return fmt.Errorf("%w: %s", ErrDomainTaken, domain)
		}
		return fmt.Errorf("%w: %s", ErrDatabaseTaken, t.DatabaseName)
	}
}

// repairHolderOf repairs the tenant in a lifecycle state that holds domain
// or the database name, if there is one. It reports whether it repaired
// one; such a tenant whose operation still runs is a *StateError.
func (m *Manager) repairHolderOf(ctx context.Context, domain, dbName string) (bool, error) {
	stuck, err := m.store.AllTenants(ctx, LifecycleStatuses...)
	if err != nil {
		return false, err
	}
	for _, o := range stuck {
		holds := o.DatabaseName == dbName
		for _, d := range o.Domains {
			holds = holds || d.Domain == domain
		}
		if !holds {
			continue
		}
		if _, err := m.settle(ctx, o); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// commit ends a create: the tenant gets its requested status and becomes
// routable.
func (m *Manager) commit(ctx context.Context, t *Tenant, status Status) error {
	if err := m.store.CommitTenant(ctx, t.ID, status); err != nil {
		return fmt.Errorf("commit tenant %s: %w", t.UUID, err)
	}
	committed, err := m.store.TenantByUUID(ctx, t.UUID)
	if err != nil {
		return fmt.Errorf("read committed tenant %s: %w", t.UUID, err)
	}
	*t = *committed
	return nil
}

// undoCreate removes what a create made: the database first, then the
// record, so that a database never exists without its record. The caller
// holds the tenant's lock.
func (m *Manager) undoCreate(ctx context.Context, t *Tenant) error {
	m.conns.ForgetTenant(t.UUID)
	if err := m.prov.Drop(ctx, t.DatabaseName); err != nil {
		return fmt.Errorf("undo database %s: %w", t.DatabaseName, err)
	}
	return m.undoRecord(ctx, t)
}

// undoRecord removes the record of a create that made no database.
func (m *Manager) undoRecord(ctx context.Context, t *Tenant) error {
	if err := m.store.DeleteTenant(ctx, t.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("undo tenant record: %w", err)
	}
	return nil
}

// chooseShard validates a requested shard, or picks the shard with the
// fewest tenants when the provisioner spreads tenants over several servers.
func (m *Manager) chooseShard(ctx context.Context, requested string) (string, error) {
	sharded, ok := m.prov.(tenantdb.Sharded)
	if !ok {
		if requested != "" {
			return "", &ValidationError{Field: "shard", Reason: "this tenant database mode has no shards"}
		}
		return "", nil
	}
	if requested == "" {
		return sharded.PickShard(ctx)
	}
	if !containsString(sharded.Shards(), requested) {
		return "", &ValidationError{Field: "shard", Reason: fmt.Sprintf("unknown shard %q (configured: %s)", requested, strings.Join(sharded.Shards(), ", "))}
	}
	return requested, nil
}

// provision makes the tenant's database and migrates and seeds it. It
// returns the migration version reached. The caller undoes it on failure.
func (m *Manager) provision(ctx context.Context, t *Tenant, req CreateRequest) (int64, error) {
	if err := m.prov.Create(tenantdb.WithShard(ctx, t.Shard), t.DatabaseName); err != nil {
		if errors.Is(err, tenantdb.ErrExists) {
			return 0, fmt.Errorf("%w: a database named %s already exists", ErrDatabaseTaken, t.DatabaseName)
		}
		return 0, fmt.Errorf("create database %s: %w", t.DatabaseName, err)
	}
	return m.prepare(ctx, t, req.Migrate, req.Seed, req.Seeders)
}

// prepare migrates and seeds a new tenant database as asked.
func (m *Manager) prepare(ctx context.Context, t *Tenant, doMigrate, doSeed bool, seeders []string) (int64, error) {
	if !doMigrate && !doSeed {
		return 0, nil
	}
	h, err := m.acquire(ctx, t)
	if err != nil {
		return 0, fmt.Errorf("open database %s: %w", t.DatabaseName, err)
	}
	defer h.Release()
	var res migrate.Result
	if doMigrate {
		if res, err = m.migrations.Up(ctx, m.prov.Dialect(), h.DB()); err != nil {
			return 0, fmt.Errorf("migrate: %w", err)
		}
	}
	if doSeed {
		if err := m.seeders.Run(withTenantDB(ctx, t, m.prov.Dialect(), h.DB()), h.DB(), seeders...); err != nil {
			return 0, fmt.Errorf("seed: %w", err)
		}
	}
	return res.To, nil
}

// Get returns a tenant by uuid or by any of its domains.
func (m *Manager) Get(ctx context.Context, ref string) (*Tenant, error) {
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return nil, &ValidationError{Field: "tenant", Reason: "must be a uuid or a domain"}
	}
	var (
		t   *Tenant
		err error
	)
	if id, perr := uuid.Parse(ref); perr == nil {
		t, err = m.store.TenantByUUID(ctx, id.String())
	} else if domain, nerr := NormalizeDomain(ref); nerr == nil {
		t, err = m.store.TenantByDomain(ctx, domain)
	} else {
		err = ErrNotFound
	}
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, ref)
	}
	return t, err
}

// AllTenants returns every tenant with its domains, in id order, in one
// read of the catalog (for fleet-wide reports).
func (m *Manager) AllTenants(ctx context.Context) ([]*Tenant, error) {
	return m.store.AllTenants(ctx)
}

// ListResult is one page of tenants.
type ListResult struct {
	Tenants []*Tenant
	Total   int
	Page    int
	PerPage int
}

// LastPage is the number of the last page (1 when there are no tenants).
func (r ListResult) LastPage() int { return max(1, (r.Total+r.PerPage-1)/r.PerPage) }

// List returns one page of tenants. Paging defaults to page 1 of
// DefaultPerPage; PerPage above MaxPerPage, an unknown sort field or
// status is a *ValidationError.
func (m *Manager) List(ctx context.Context, opts ListOptions) (ListResult, error) {
	if st := Status(strings.ToLower(strings.TrimSpace(string(opts.Status)))); st.Lifecycle() {
		opts.Status = st // listing the tenants being created or deleted
	} else if opts.Status != "" {
		st, err := ParseStatus(string(opts.Status))
		if err != nil {
			return ListResult{}, err
		}
		opts.Status = st
	}
	if opts.Sort != "" && !containsString(SortFields, opts.Sort) {
		return ListResult{}, &ValidationError{Field: "sort", Reason: fmt.Sprintf("unknown sort field %q (want one of %s)", opts.Sort, strings.Join(SortFields, ", "))}
	}
	switch {
	case opts.Page < 0:
		return ListResult{}, &ValidationError{Field: "page", Reason: "must be at least 1"}
	case opts.PerPage < 0 || opts.PerPage > MaxPerPage:
		return ListResult{}, &ValidationError{Field: "per_page", Reason: fmt.Sprintf("must be between 1 and %d", MaxPerPage)}
	}
	if opts.Page == 0 {
		opts.Page = 1
	}
	if opts.PerPage == 0 {
		opts.PerPage = DefaultPerPage
	}
	opts.Search = strings.TrimSpace(opts.Search)
	if len(opts.Search) > maxNameLen || !utf8.ValidString(opts.Search) || strings.IndexFunc(opts.Search, unicode.IsControl) >= 0 {
		return ListResult{}, &ValidationError{Field: "search", Reason: fmt.Sprintf("must be text of at most %d bytes without control characters", maxNameLen)}
	}
	ts, total, err := m.store.ListTenants(ctx, opts)
	if err != nil {
		return ListResult{}, err
	}
	return ListResult{Tenants: ts, Total: total, Page: opts.Page, PerPage: opts.PerPage}, nil
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// UpdateRequest lists the fields to change; nil fields are kept.
type UpdateRequest struct {
	Name         *string
	Status       *Status
	StatusReason *string
	// VisitorMessage is shown to visitors while the tenant is not served.
	VisitorMessage *string
	Notes          *string
	Settings       map[string]any
	Data           map[string]any
}

// Update changes a tenant's fields.
func (m *Manager) Update(ctx context.Context, ref string, req UpdateRequest) (*Tenant, error) {
	return m.update(ctx, "tenant.update", ref, req)
}

func (m *Manager) update(ctx context.Context, action, ref string, req UpdateRequest) (*Tenant, error) {
	t, err := m.getReady(ctx, ref)
	if err != nil {
		return nil, err
	}
	old := t.Clone()
	before := t.Status
	if req.Name != nil {
		if t.Name, err = validateName(*req.Name); err != nil {
			return nil, err
		}
	}
	if req.Status != nil {
		st, err := ParseStatus(string(*req.Status))
		if err != nil {
			return nil, err
		}
		if st != t.Status {
			t.StatusReason = ""
		}
		t.Status = st
	}
	if req.StatusReason != nil {
		if err := validateText("reason", *req.StatusReason, maxMessageLen); err != nil {
			return nil, err
		}
		t.StatusReason = strings.TrimSpace(*req.StatusReason)
	}
	if req.VisitorMessage != nil {
		if err := validateText("visitor_message", *req.VisitorMessage, maxMessageLen); err != nil {
			return nil, err
		}
		t.VisitorMessage = strings.TrimSpace(*req.VisitorMessage)
	}
	if req.Notes != nil {
		if err := validateNotes(*req.Notes); err != nil {
			return nil, err
		}
		t.Notes = *req.Notes
	}
	if req.Settings != nil {
		if err := validateObject("settings", req.Settings); err != nil {
			return nil, err
		}
		t.Settings = req.Settings
	}
	if req.Data != nil {
		if err := validateObject("data", req.Data); err != nil {
			return nil, err
		}
		t.Data = req.Data
	}
	if err := m.store.UpdateTenant(ctx, t); err != nil {
		return nil, err
	}
	m.audit(ctx, action, old, t, nil)
	m.emit(ctx, Event{Kind: EventUpdated, Tenant: t})
	if t.Status != before {
		m.emit(ctx, Event{Kind: EventStatusChanged, Tenant: t, PreviousStatus: before})
	}
	return t, nil
}

// setStatus changes a tenant's status, recording the reason.
func (m *Manager) setStatus(ctx context.Context, ref string, status Status, reason string) (*Tenant, error) {
	return m.update(ctx, "tenant.status", ref, UpdateRequest{Status: &status, StatusReason: &reason})
}

// SetMaintenance turns a tenant's maintenance mode on (with a message shown
// to visitors) or off.
func (m *Manager) SetMaintenance(ctx context.Context, ref string, on bool, message string) (*Tenant, error) {
	t, err := m.getReady(ctx, ref)
	if err != nil {
		return nil, err
	}
	if err := validateText("message", message, maxMessageLen); err != nil {
		return nil, err
	}
	old := t.Clone()
	t.Maintenance = on
	t.MaintenanceMessage, t.MaintenanceSecret = "", ""
	if on {
		t.MaintenanceMessage = strings.TrimSpace(message)
		t.MaintenanceSecret = rand.Text()
	}
	if err := m.store.UpdateTenant(ctx, t); err != nil {
		return nil, err
	}
	m.audit(ctx, "tenant.maintenance", old, t, nil)
	m.emit(ctx, Event{Kind: EventUpdated, Tenant: t})
	return t, nil
}

// DomainRequest describes a domain to add.
type DomainRequest struct {
	Domain     string
	Primary    bool
	SSLEnabled bool
}

// AddDomain adds a domain to a tenant.
func (m *Manager) AddDomain(ctx context.Context, ref string, req DomainRequest) (*Tenant, error) {
	domain, err := NormalizeDomain(req.Domain)
	if err != nil {
		return nil, err
	}
	if err := m.refuseCentral(domain); err != nil {
		return nil, err
	}
	t, err := m.getReady(ctx, ref)
	if err != nil {
		return nil, err
	}
	d := &Domain{TenantID: t.ID, Domain: domain, IsPrimary: req.Primary, SSLEnabled: req.SSLEnabled}
	if err := m.store.AddDomain(ctx, d); err != nil {
		if errors.Is(err, ErrDomainTaken) {
			return nil, fmt.Errorf("%w: %s", ErrDomainTaken, domain)
		}
		return nil, err
	}
	old := t
	if t, err = m.store.TenantByUUID(ctx, t.UUID); err != nil {
		return nil, err
	}
	m.audit(ctx, "domain.add", old, t, nil)
	m.emit(ctx, Event{Kind: EventDomainAdded, Tenant: t, Domain: domain})
	return t, nil
}

// RemoveDomain removes a domain from a tenant. A tenant's last domain
// cannot be removed (ErrLastDomain).
func (m *Manager) RemoveDomain(ctx context.Context, ref, domain string) (*Tenant, error) {
	t, d, err := m.tenantDomain(ctx, ref, domain)
	if err != nil {
		return nil, err
	}
	if len(t.Domains) == 1 {
		return nil, fmt.Errorf("%w: %s is the only domain of %s", ErrLastDomain, d, t.Name)
	}
	if err := m.store.RemoveDomain(ctx, t.ID, d); err != nil {
		return nil, err
	}
	old := t
	if t, err = m.store.TenantByUUID(ctx, t.UUID); err != nil {
		return nil, err
	}
	m.audit(ctx, "domain.remove", old, t, nil)
	m.emit(ctx, Event{Kind: EventDomainRemoved, Tenant: t, Domain: d})
	return t, nil
}

// SetPrimaryDomain makes one of a tenant's domains its primary domain.
func (m *Manager) SetPrimaryDomain(ctx context.Context, ref, domain string) (*Tenant, error) {
	t, d, err := m.tenantDomain(ctx, ref, domain)
	if err != nil {
		return nil, err
	}
	if err := m.store.SetPrimaryDomain(ctx, t.ID, d); err != nil {
		return nil, err
	}
	old := t
	if t, err = m.store.TenantByUUID(ctx, t.UUID); err != nil {
		return nil, err
	}
	m.audit(ctx, "domain.primary", old, t, nil)
	m.emit(ctx, Event{Kind: EventUpdated, Tenant: t})
	return t, nil
}

// tenantDomain resolves a tenant and one of its domains, normalised.
func (m *Manager) tenantDomain(ctx context.Context, ref, domain string) (*Tenant, string, error) {
	d, err := NormalizeDomain(domain)
	if err != nil {
		return nil, "", err
	}
	t, err := m.getReady(ctx, ref)
	if err != nil {
		return nil, "", err
	}
	for _, have := range t.Domains {
		if have.Domain == d {
			return t, d, nil
		}
	}
	return nil, "", fmt.Errorf("%w: %s is not a domain of %s", ErrDomainNotFound, d, t.Name)
}

// Delete removes a tenant completely: its database (and its files), its
// domains, its records. Under the tenant's lock it is first marked
// deleting (so that no node serves it any more), then its database is
// dropped, then its record removed; a delete interrupted at any point is
// finished by the next delete, create or repair that touches the tenant.
// A tenant whose create was interrupted is undone.
func (m *Manager) Delete(ctx context.Context, ref string) (*Tenant, error) {
	t, err := m.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if t.Status == StatusProvisioning {
		// A create that died is undone; one that runs is not ours to stop.
		if _, err := m.settle(ctx, t); err != nil {
			return nil, err
		}
		return t, nil
	}
	if err := m.emit(ctx, Event{Kind: EventDeleting, Tenant: t}); err != nil {
		return nil, err
	}
	ctx, lock, err := m.lockTenant(ctx, t.UUID, "delete", m.lockWait, nil)
	if err != nil {
		return nil, err
	}
	defer lock.release()
	if err := m.finishDelete(ctx, t); err != nil {
		m.audit(ctx, "tenant.delete", t, nil, err)
		return nil, err
	}
	m.audit(ctx, "tenant.delete", t, nil, nil)
	m.emit(ctx, Event{Kind: EventDeleted, Tenant: t})
	return t, nil
}

// finishDelete marks t deleting and removes its database and record. The
// caller holds the tenant's lock.
func (m *Manager) finishDelete(ctx context.Context, t *Tenant) error {
	if err := m.store.MarkDeleting(ctx, t.ID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil // deleted meanwhile
		}
		return fmt.Errorf("mark tenant %s deleting: %w", t.UUID, err)
	}
	marked := t.Clone()
	marked.Status = StatusDeleting
	// This process's resolver stops serving it now; other nodes' as soon
	// as the catalog change reaches them.
	m.emit(ctx, Event{Kind: EventUpdated, Tenant: marked})
	m.conns.ForgetTenant(t.UUID)
	if err := m.prov.Drop(ctx, t.DatabaseName); err != nil {
		return fmt.Errorf("drop database %s: %w", t.DatabaseName, err)
	}
	if err := m.store.DeleteTenant(ctx, t.ID); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("delete tenant record: %w", err)
	}
	return nil
}

// Use adds bootstrappers after those of Config; call it before serving.
func (m *Manager) Use(b ...Bootstrapper) {
	m.bootMu.Lock()
	defer m.bootMu.Unlock()
	m.bootstrappers = append(m.bootstrappers, b...)
}

// Run runs fn in the tenant's context: FromContext returns the tenant, DB
// opens its database on first use, and the bootstrappers' resources (cache,
// storage, jobs, logger) are available. Everything is released when fn returns.
func (m *Manager) Run(ctx context.Context, t *Tenant, fn func(ctx context.Context) error) error {
	ctx, end, err := m.enterTenant(ctx, t)
	if err != nil {
		return err
	}
	defer end()
	return fn(ctx)
}

// enterTenant starts code running for t: it returns the tenant context and the
// function that ends it (reverting the bootstrappers in reverse order and
// releasing the database handle). Run is Enter and end around a function;
// enterTenant serves callers, such as HTTP middleware, that want no closure.
func (m *Manager) enterTenant(ctx context.Context, t *Tenant) (context.Context, func(), error) {
	ctx, s, err := m.enter(ctx, t)
	if err != nil {
		return nil, nil, err
	}
	return ctx, func() { s.finish(s.ctx) }, nil
}

// enter is Enter for callers in this package that end the scope
// themselves (s.finish(s.ctx)), saving the closure on hot paths.
func (m *Manager) enter(ctx context.Context, t *Tenant) (context.Context, *scope, error) {
	s := m.newScope(t)
	ctx = context.WithValue(ctx, scopeKey{}, s)
	m.bootMu.RLock()
	boots := m.bootstrappers
	m.bootMu.RUnlock()
	s.boots = boots
	for i, b := range boots {
		next, err := b.Bootstrap(ctx, t)
		if err != nil {
			s.boots = boots[:i]
			s.finish(ctx)
			return nil, nil, fmt.Errorf("bootstrap tenant %s: %w", t.UUID, err)
		}
		ctx = next
	}
	s.ctx = ctx
	return ctx, s, nil
}

// newScope makes a scope whose database comes from the connection pool.
func (m *Manager) newScope(t *Tenant) *scope {
	return &scope{tenant: t, dialect: m.prov.Dialect(), open: m.openFor}
}

// acquire takes the tenant's database handle from the pool, keyed by the
// tenant and its database generation.
func (m *Manager) acquire(ctx context.Context, t *Tenant) (*tenantdb.Handle, error) {
	return m.conns.AcquireKey(ctx, tenantdb.Key{Database: t.DatabaseName, Tenant: t.UUID, Generation: t.Generation})
}

// openFor acquires the database of the tenant of ctx from the pool.
func (m *Manager) openFor(ctx context.Context, t *Tenant) (*tenantdb.Handle, error) {
	if t.Status.Lifecycle() {
		return nil, &StateError{Tenant: t.UUID, Status: t.Status}
	}
	h, err := m.acquire(ctx, t)
	if err != nil {
		if ctx.Err() == nil && !errors.Is(err, ErrDatabaseUnavailable) {
			// A database that is missing or cannot be opened now.
			err = fmt.Errorf("%w: %w", ErrDatabaseUnavailable, err)
		}
		return nil, fmt.Errorf("open database of tenant %s: %w", t.UUID, err)
	}
	return h, nil
}

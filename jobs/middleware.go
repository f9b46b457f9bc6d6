package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/gotenancy/tenancy"
)

// tenantMiddleware restores a job's tenant around its worker, refusing jobs
// whose tenant is missing, deleted, being created or deleted, or not active.
type tenantMiddleware struct {
	river.MiddlewareDefaults
	c *Client
}

var _ rivertype.WorkerMiddleware = (*tenantMiddleware)(nil)

// Work runs doInner inside Manager.Run for the job's tenant, or cancels the
// job with ErrTenantRefused; jobs of a central kind run without a tenant.
func (m *tenantMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(ctx context.Context) error) error {
	c := m.c
	if c.central[job.Kind] {
		c.stats.running.Add(1)
		err := doInner(ctx)
		c.stats.running.Add(-1)
		c.stats.record(err)
		return err
	}
	t, err := c.tenantOf(ctx, job)
	if err != nil {
		if errors.Is(err, ErrTenantRefused) {
			c.stats.refused.Add(1)
			c.log.WarnContext(ctx, "job refused", "job_id", job.ID, "kind", job.Kind, "err", err)
			return river.JobCancel(err)
		}
		c.stats.failed.Add(1)
		return err
	}
	c.stats.running.Add(1)
	defer c.stats.running.Add(-1)
	returned := false
	defer func() {
		if !returned { // the worker panicked; River records the panic
			c.stats.failed.Add(1)
		}
	}()
	err = c.mgr.Run(ctx, t, doInner)
	returned = true
	c.stats.record(err)
	return err
}

// tenantOf loads the tenant named by the job's metadata. Errors wrapping
// ErrTenantRefused are final; others (the catalog failing) are worth a retry.
func (c *Client) tenantOf(ctx context.Context, job *rivertype.JobRow) (*tenancy.Tenant, error) {
	var md struct {
		TenantUUID string `json:"tenant_uuid"`
	}
	if len(job.Metadata) > 0 {
		if err := json.Unmarshal(job.Metadata, &md); err != nil {
			return nil, fmt.Errorf("%w: unreadable job metadata: %w", ErrTenantRefused, err)
		}
	}
	if md.TenantUUID == "" {
		return nil, fmt.Errorf("%w: job has no %s: %w", ErrTenantRefused, MetadataKey, tenancy.ErrNoTenant)
	}
	// Only a UUID names a tenant here: Manager.Get also accepts domains,
	// which would let a job find a tenant by a domain it later acquires.
	id, err := uuid.Parse(md.TenantUUID)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q is not a uuid", ErrTenantRefused, MetadataKey, md.TenantUUID)
	}
	t, err := c.mgr.Get(ctx, id.String())
	if errors.Is(err, tenancy.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrTenantRefused, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: load tenant %s: %w", id, err)
	}
	if t.Status.Lifecycle() {
		// A tenant being created or deleted is refused as if it did not
		// exist: it is not there yet, or not any more.
		return nil, fmt.Errorf("%w: %w: %q", ErrTenantRefused, tenancy.ErrNotFound, t.UUID)
	}
	if t.Status != tenancy.StatusActive {
		return nil, fmt.Errorf("%w: tenant %s is %s", ErrTenantRefused, t.UUID, t.Status)
	}
	return t, nil
}

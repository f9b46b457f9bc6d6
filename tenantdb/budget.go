package tenantdb

import (
	"fmt"
	"time"
)

// Defaults of the server provisioners' connection budget (PostgreSQL and
// MySQL).
const (
	// DefaultMaxConnsPerTenant is the pool size of each tenant *sql.DB.
	DefaultMaxConnsPerTenant = 2
	// DefaultBudget is the cap on the connections of all tenant pools
	// together.
	DefaultBudget = 80
	// DefaultAdminConns is the pool size of each shard's administrative
	// connection.
	DefaultAdminConns = 4
	// DefaultConnMaxIdleTime is how long a pooled connection may stay idle.
	DefaultConnMaxIdleTime = 30 * time.Second
)

// CheckBudget validates and defaults the pool settings of a server
// provisioner (what names it in errors): it returns the connections per
// tenant, the budget, the administrative connections per shard and the
// idle time.
func CheckBudget(what string, maxConns, budget, admin int, idle time.Duration) (int, int, int, time.Duration, error) {
	switch {
	case maxConns < 0:
		return 0, 0, 0, 0, fmt.Errorf("tenantdb: %s config: MaxConnsPerTenant %d is negative", what, maxConns)
	case budget < 0:
		return 0, 0, 0, 0, fmt.Errorf("tenantdb: %s config: Budget %d is negative", what, budget)
	case admin < 0:
		return 0, 0, 0, 0, fmt.Errorf("tenantdb: %s config: AdminConns %d is negative", what, admin)
	}
	if maxConns == 0 {
		maxConns = DefaultMaxConnsPerTenant
	}
	if budget == 0 {
		budget = DefaultBudget
	}
	if admin == 0 {
		admin = DefaultAdminConns
	}
	if idle == 0 {
		idle = DefaultConnMaxIdleTime
	}
	if budget < maxConns {
		return 0, 0, 0, 0, fmt.Errorf("tenantdb: %s config: Budget %d is less than MaxConnsPerTenant %d", what, budget, maxConns)
	}
	return maxConns, budget, admin, idle, nil
}

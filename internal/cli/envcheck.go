package cli

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/gotenancy/tenancy/alert"
)

// knownVariables are the environment variables the command reads; the
// README lists them.
var knownVariables = []string{
	"TENANCY_API_RATE_LIMIT", "TENANCY_API_RATE_LIMIT_ATTEMPTS", "TENANCY_API_RATE_LIMIT_DECAY",
	"TENANCY_BACKUP_COMPRESS", "TENANCY_BACKUP_CONCURRENCY", "TENANCY_BACKUP_DISK", "TENANCY_BACKUP_ENABLED",
	"TENANCY_BACKUP_RETENTION_DAYS", "TENANCY_BACKUP_SCHEDULE",
	"TENANCY_CENTRAL_DOMAINS", "TENANCY_CONNECTION_BUDGET", "TENANCY_DATABASE_URL", "TENANCY_DATA_DIR",
	"TENANCY_REDIS_URL", "TENANCY_RLS_APP_PASSWORD", "TENANCY_RLS_APP_ROLE", "TENANCY_SERVICES_DIR", "TENANCY_SHARDS",
	"TENANCY_TENANT_DB", "TENANCY_TRUSTED_PROXIES",
	"TENANT_API_KEY", "TENANT_BEARER_TOKEN", "TENANT_AUTO_MIGRATE", "TENANT_AUTO_SEED", "TENANT_DB_PREFIX",
	alert.EnvDatabaseSize, alert.EnvP95Latency, alert.EnvErrorRate, alert.EnvMinRequests, alert.EnvMemoryUse,
	alert.EnvConnectionBudget, alert.EnvWebhookURL, alert.EnvSlackWebhookURL, alert.EnvTelegramBotToken,
	alert.EnvTelegramChatID, alert.EnvSMTPAddr, alert.EnvSMTPUsername, alert.EnvSMTPPassword, alert.EnvEmailFrom,
	alert.EnvEmailTo,
}

var warnUnknownOnce sync.Once

// warnUnknownVariables warns, once per process, about each TENANCY_* or
// TENANT_* variable of the environment that nothing reads (a typo, or a
// setting of the reference this tool does not have): such settings are
// ignored, which should not go unnoticed. TENANCY_TEST_* belong to the
// tests.
func warnUnknownVariables(w io.Writer) {
	warnUnknownOnce.Do(func() {
		var unknown []string
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			if !strings.HasPrefix(name, "TENANCY_") && !strings.HasPrefix(name, "TENANT_") {
				continue
			}
			if strings.HasPrefix(name, "TENANCY_TEST_") || slices.Contains(knownVariables, name) {
				continue
			}
			unknown = append(unknown, name)
		}
		slices.Sort(unknown)
		for _, name := range unknown {
			fmt.Fprintf(w, "warning: environment variable %s is not a setting of tenancy and is ignored (the README lists them)\n", name)
		}
	})
}

// Command tenancy manages the tenants of a multi-tenant Go application: their
// catalog, databases, migrations and seeds.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/gotenancy/tenancy/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

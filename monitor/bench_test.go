package monitor_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotenancy/tenancy"
	"github.com/gotenancy/tenancy/monitor"
)

// BenchmarkSample measures one sample over 1,000 tenants that all served
// requests in the interval: what the sampler costs the node each second.
func BenchmarkSample(b *testing.B) {
	ctx := context.Background()
	mgr, dir := newManager(b)
	rm := tenancy.NewRequestMetrics()
	const tenants = 1000
	for i := range tenants {
		if _, err := mgr.Create(ctx, tenancy.CreateRequest{Name: fmt.Sprint("T", i), Domain: fmt.Sprintf("t%d.test", i)}); err != nil {
			b.Fatal(err)
		}
	}
	mon, err := monitor.New(&monitor.Config{Manager: mgr, Metrics: rm, DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer mon.Close()
	observe := func() {
		for id := int64(1); id <= tenants; id++ {
			rm.Observe(id, 200, time.Duration(id)*time.Microsecond, time.Now())
		}
	}
	observe()
	mon.Sample(ctx)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		observe()
		b.StartTimer()
		mon.Sample(ctx)
	}
}

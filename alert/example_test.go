package alert_test

import (
	"context"
	"fmt"
	"time"

	"github.com/gotenancy/tenancy/alert"
)

// chat is a Notifier standing in for a real channel.
type chat struct{}

func (chat) Name() string                              { return "chat" }
func (chat) Notify(context.Context, alert.Event) error { return nil }

func Example() {
	ctx := context.Background()
	engine, err := alert.New(&alert.Config{
		Thresholds: alert.Thresholds{
			P95Latency:        200 * time.Millisecond,
			DatabaseSizeBytes: 1_000_000_000,
		},
		// Real channels: alert.NewWebhook, NewSlack, NewTelegram, NewSMTP,
		// or alert.NotifiersFromEnv(os.Getenv, nil).
		Notifiers: []alert.Notifier{chat{}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	const acme = "0190a1b2-0000-7000-8000-000000000001"
	names := map[string]string{acme: "Acme"}
	show := func(evs []alert.Event) {
		for _, e := range evs {
			fmt.Printf("#%d %s (sent to %v)\n", e.ID, e.Message, e.Sent)
		}
	}

	// Each monitoring interval, the caller turns its sample into Figures.
	slow := alert.Figures{Node: "web-1", Requests: 500, P95: 412 * time.Millisecond,
		DatabaseSizes: map[string]int64{acme: 1_200_000_000}, TenantNames: names}
	show(engine.Evaluate(ctx, slow))
	show(engine.Evaluate(ctx, slow)) // still true: nothing new
	fmt.Println("active:", len(engine.Active()))

	// The sizes were not measured this time: the database alert stays.
	show(engine.Evaluate(ctx, alert.Figures{Node: "web-1", Requests: 500, P95: 90 * time.Millisecond}))
	fmt.Println("active:", engine.Active()[0].Rule)
	fmt.Println("history:", len(engine.History()))
	// Output:
	// #1 tenant Acme (0190a1b2-0000-7000-8000-000000000001) database is 1.2 GB, above 1.0 GB (sent to [chat])
	// #2 p95 latency 412 ms is above 200 ms on node web-1 (sent to [chat])
	// active: 2
	// #3 resolved: p95 latency 90 ms is no longer above 200 ms on node web-1 (sent to [chat])
	// active: database_size
	// history: 3
}

package rediserr_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/gotenancy/tenancy/internal/rediserr"
	"github.com/gotenancy/tenancy/internal/testenv"
)

// reply is an error reply, as go-redis returns them.
type reply string

func (r reply) Error() string { return string(r) }
func (reply) RedisError()     {}

func TestRefused(t *testing.T) {
	t.Parallel()
	opt, err := redis.ParseURL(testenv.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	ping := func(url string) error {
		o, err := redis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		o.DialerRetries = 1
		c := redis.NewClient(o)
		defer c.Close()
		return c.Ping(context.Background()).Err()
	}
	down := testenv.StartRedisServer(t)
	down.Stop()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"wrong password", ping("redis://tenancy-wrong-user:wrong@" + opt.Addr + "/0"), true},
		{"no such database", ping("redis://" + opt.Addr + "/100000"), true},
		{"nothing listens", ping(down.URL()), false},
		{"timeout", context.DeadlineExceeded, false},
		{"loading", fmt.Errorf("wrapped: %w", reply("LOADING Redis is loading the dataset in memory")), false},
		{"failing over", reply("MASTERDOWN Link with MASTER is down"), false},
		{"closed client", redis.ErrClosed, false},
		{"success", nil, false},
		{"other", errors.New("boom"), false},
	} {
		if got := rediserr.Refused(tc.err); got != tc.want {
			t.Errorf("%s: Refused(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

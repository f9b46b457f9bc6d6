package tenantdb_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/gotenancy/tenancy/tenantdb"
)

func TestParseShards(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []tenantdb.Shard
		err  string
	}{
		{in: "", want: nil},
		{in: "   ", want: nil},
		{in: "a=postgres://u@h1:5432/postgres", want: []tenantdb.Shard{{Name: "a", URL: "postgres://u@h1:5432/postgres"}}},
		{
			in: " eu1 = postgres://u:p@h1/postgres?sslmode=require , us_2=postgresql://h2/admin ,m=mysql://u@h3:3306/",
			want: []tenantdb.Shard{
				{Name: "eu1", URL: "postgres://u:p@h1/postgres?sslmode=require"},
				{Name: "us_2", URL: "postgresql://h2/admin"},
				{Name: "m", URL: "mysql://u@h3:3306/"},
			},
		},
		// PostgreSQL's multi-host URLs keep their commas.
		{
			in: "a=postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write,b=postgres://h3/db",
			want: []tenantdb.Shard{
				{Name: "a", URL: "postgres://u@h1:5432,h2:5433/db?target_session_attrs=read-write"},
				{Name: "b", URL: "postgres://h3/db"},
			},
		},
		{in: "postgres://h/db", err: "no \"=\""},
		{in: "a=postgres://h/db,", err: "entry 2 is empty"},
		{in: "A=postgres://h/db", err: "invalid shard name"},
		{in: "1a=postgres://h/db", err: "invalid shard name"},
		{in: "=postgres://h/db", err: "invalid shard name"},
		{in: "a-b=postgres://h/db", err: "invalid shard name"},
		{in: "a=postgres://h/db,a=postgres://h2/db", err: "listed twice"},
		{in: "a=", err: "URL is empty"},
		{in: "a=h1:5432/db", err: "scheme"},
		{in: "a=redis://h/0", err: "not supported"},
		{in: "a=postgres:///db", err: "no host"},
		{in: "a=postgres://u:secret@h:port/db", err: "invalid URL"},
	}
	for _, tc := range tests {
		got, err := tenantdb.ParseShards(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseShards(%q): err = %v, want it to mention %q", tc.in, err, tc.err)
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("ParseShards(%q): the error shows the password: %v", tc.in, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseShards(%q): %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseShards(%q) = %#v, want %#v", tc.in, got, tc.want)
		}
	}
}

func TestShardString(t *testing.T) {
	t.Parallel()
	for in, want := range map[tenantdb.Shard]string{
		{Name: "a", URL: "postgres://u:secret@h/db"}:          "a=postgres://u:xxxxx@h/db",
		{Name: "m", URL: "u:secret@tcp(h:3306)/?parseTime=1"}: "m=(redacted)",
	} {
		if got := in.String(); got != want {
			t.Errorf("%v.String() = %q, want %q", in.Name, got, want)
		}
	}
}

func TestWithShard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if got := tenantdb.ShardFromContext(ctx); got != "" {
		t.Errorf("ShardFromContext(empty) = %q", got)
	}
	if got := tenantdb.ShardFromContext(tenantdb.WithShard(ctx, "eu1")); got != "eu1" {
		t.Errorf("ShardFromContext = %q, want eu1", got)
	}
}

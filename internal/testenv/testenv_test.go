package testenv

import (
	"context"
	"database/sql"
	"testing"
)

func TestServers(t *testing.T) {
	t.Parallel()
	for _, url := range []string{NewPostgresDatabase(t, PostgresURL(t)), NewPostgresDatabase(t, PostgresURL2(t))} {
		db, err := sql.Open("pgx", url)
		if err != nil {
			t.Fatal(err)
		}
		if err := db.PingContext(context.Background()); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		db.Close()
	}
	db, err := sql.Open("mysql", NewMySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	RedisURL(t)
	S3URL(t)
}

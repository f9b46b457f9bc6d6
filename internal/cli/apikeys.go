package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/gotenancy/tenancy/controlplane"
	"github.com/spf13/cobra"
)

func newAPIKeyCmd(o *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "api-key",
		Short: "Manage the REST API's keys",
		Args:  cobra.NoArgs,
	}
	var name, scopes string
	create := &cobra.Command{
		Use:   "create --name NAME [--scopes read,write,admin]",
		Short: "Create an API key; the key is printed once and stored only as a hash",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			sc, err := controlplane.ParseScopes(scopes)
			if err != nil {
				return err
			}
			k, secret, err := e.cp.CreateAPIKey(ctx, name, sc)
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"key": k, "secret": secret})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Created API key %q with scopes %s.\nKey (shown once, keep it secret):\n\n  %s\n\nUse it as: curl -H 'X-API-Key: %s' http://localhost:8080/tenancy/tenants\n",
				k.Name, joinScopes(k.Scopes), secret, secret)
			return nil
		}),
	}
	create.Flags().StringVar(&name, "name", "", "a name for the key (required)")
	create.Flags().StringVar(&scopes, "scopes", "read", "comma-separated scopes: read, write, admin")
	create.MarkFlagRequired("name")

	list := &cobra.Command{
		Use:   "list",
		Short: "List API keys (never their secrets)",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			keys, err := e.cp.APIKeys(ctx)
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), keys)
			}
			tb := newTable(cmd.OutOrStdout(), "NAME", "PREFIX", "SCOPES", "CREATED", "REVOKED")
			for _, k := range keys {
				tb.row(k.Name, k.Prefix, joinScopes(k.Scopes), formatTime(&k.CreatedAt), formatTime(k.RevokedAt))
			}
			return tb.flush()
		}),
	}
	revoke := &cobra.Command{
		Use:   "revoke NAME|PREFIX",
		Short: "Revoke an API key",
		Args:  cobra.ExactArgs(1),
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			if err := e.cp.RevokeAPIKey(ctx, args[0]); err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), map[string]any{"revoked": args[0]})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Revoked API key %s\n", args[0])
			return nil
		}),
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func joinScopes(scopes []controlplane.Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

// parseSince accepts RFC 3339 times, dates (YYYY-MM-DD) and durations ago (24h).
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return time.Now().Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("invalid --since %q: want an RFC 3339 time, a date (2006-01-02) or a duration (24h)", s)
}

func newAuditCmd(o *options) *cobra.Command {
	var tenant, since, actor, action string
	var limit int
	cmd := &cobra.Command{
		Use:   "audit [--tenant T] [--since D]",
		Short: "List the audit log of changes, newest first",
		Args:  cobra.NoArgs,
		RunE: withEnv(o, false, func(ctx context.Context, cmd *cobra.Command, e *env, args []string) error {
			f := controlplane.AuditFilter{Actor: actor, Action: action, Limit: limit}
			var err error
			if f.Since, err = parseSince(since); err != nil {
				return err
			}
			if tenant != "" {
				t, err := e.mgr.Get(ctx, tenant)
				if err != nil {
					return err
				}
				f.TenantUUID = t.UUID
			}
			entries, err := e.cp.Audit(ctx, f)
			if err != nil {
				return err
			}
			if o.outputJSON() {
				return printJSON(cmd.OutOrStdout(), entries)
			}
			tb := newTable(cmd.OutOrStdout(), "TIME", "ACTOR", "ACTION", "TENANT", "OUTCOME", "CHANGE")
			for _, en := range entries {
				outcome := en.Outcome
				if en.Error != "" {
					outcome += ": " + en.Error
				}
				tb.row(formatTime(&en.At), en.Actor, en.Action, en.TenantUUID, outcome, summarizeChange(en.Before, en.After))
			}
			return tb.flush()
		}),
	}
	f := cmd.Flags()
	f.StringVar(&tenant, "tenant", "", "only this tenant (uuid or domain)")
	f.StringVar(&since, "since", "", "only entries since (RFC 3339 time, date or duration such as 24h)")
	f.StringVar(&actor, "actor", "", "only this actor")
	f.StringVar(&action, "action", "", "only this action (e.g. tenant.status)")
	f.IntVar(&limit, "limit", 50, fmt.Sprintf("most entries (at most %d)", controlplane.MaxAuditLimit))
	return cmd
}

// summarizeChange names the top-level fields that differ between before and after.
func summarizeChange(before, after json.RawMessage) string {
	var b, a map[string]any
	json.Unmarshal(before, &b)
	json.Unmarshal(after, &a)
	var changed []string
	for _, k := range slices.Sorted(maps.Keys(a)) {
		av := a[k]
		if k == "updated_at" {
			continue
		}
		if bv, ok := b[k]; b != nil && (!ok || fmt.Sprint(bv) != fmt.Sprint(av)) {
			changed = append(changed, fmt.Sprintf("%s=%v", k, av))
		}
	}
	if len(changed) > 4 {
		changed = append(changed[:4], "…")
	}
	return strings.Join(changed, " ")
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gotenancy/tenancy"
)

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(toAny(header)...)
	return t
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (t *table) row(cells ...any) {
	parts := make([]string, len(cells))
	for i, c := range cells {
		parts[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(fmt.Sprint(c))
	}
	fmt.Fprintln(t.tw, strings.Join(parts, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

func formatTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// printTenant writes one tenant, as JSON or as labelled lines.
func printTenant(w io.Writer, o *options, t *tenancy.Tenant) error {
	if o.outputJSON() {
		return printJSON(w, t)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	line := func(k string, v any) { fmt.Fprintf(tw, "%s:\t%v\n", k, v) }
	line("UUID", t.UUID)
	line("Name", t.Name)
	status := string(t.Status)
	if t.StatusReason != "" {
		status += " (" + t.StatusReason + ")"
	}
	line("Status", status)
	if t.Maintenance {
		line("Maintenance", "on: "+t.MaintenanceMessage)
	}
	line("Database", t.DatabaseName)
	if t.Shard != "" {
		line("Shard", t.Shard)
	}
	for i, d := range t.Domains {
		label := ""
		if i == 0 {
			label = "Domains"
		}
		mark := ""
		if d.IsPrimary {
			mark = " (primary)"
		}
		fmt.Fprintf(tw, "%s\t%s%s\n", label+":", d.Domain, mark)
	}
	if t.Notes != "" {
		line("Notes", t.Notes)
	}
	line("Created", formatTime(&t.CreatedAt))
	line("Updated", formatTime(&t.UpdatedAt))
	line("Last access", formatTime(t.LastAccessedAt))
	return tw.Flush()
}

// printTenants writes tenants as a JSON array or a table.
func printTenants(w io.Writer, o *options, ts []*tenancy.Tenant) error {
	if o.outputJSON() {
		if ts == nil {
			ts = []*tenancy.Tenant{}
		}
		return printJSON(w, ts)
	}
	t := newTable(w, "UUID", "NAME", "STATUS", "DOMAIN", "DATABASE", "CREATED")
	for _, tn := range ts {
		status := string(tn.Status)
		if tn.Maintenance {
			status += "+maintenance"
		}
		t.row(tn.UUID, tn.Name, status, tn.PrimaryDomain(), tn.DatabaseName, formatTime(&tn.CreatedAt))
	}
	return t.flush()
}

// printReport writes a fleet run's outcomes and a summary line.
func printReport(w io.Writer, o *options, r *tenancy.FleetReport) error {
	if o.outputJSON() {
		return printJSON(w, r)
	}
	t := newTable(w, "TENANT", "DOMAIN", "STATE", "FROM", "TO", "DURATION", "ERROR")
	for _, oc := range r.Outcomes {
		t.row(oc.UUID, oc.Domain, oc.State, oc.From, oc.To, oc.Duration.Round(time.Microsecond), oc.Error)
	}
	if err := t.flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%s: %d tenants, %d succeeded, %d failed, %d skipped in %s\n",
		r.Operation, len(r.Outcomes), r.Succeeded, r.Failed, r.Skipped, r.Duration.Round(time.Millisecond))
	return err
}

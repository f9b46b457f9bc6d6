package alert

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/dustin/go-humanize"
)

// observe checks every enabled rule against f, in a fixed order. A rule
// that cannot judge this time (too few requests, sizes not measured) says
// nothing, which leaves its conditions as they are. The caller holds e.mu
// (the database rule reads the firing tenants).
func (e *Engine) observe(f Figures) []observation {
	var obs []observation
	node := ""
	if f.Node != "" {
		node = " on node " + f.Node
	}
	if th := e.th.DatabaseSizeBytes; th > 0 && f.DatabaseSizes != nil {
		obs = append(obs, e.observeDatabases(f, th)...)
	}
	if th := e.th.P95Latency; th > 0 && f.Requests >= e.th.MinRequests {
		o := observation{
			key:       key{rule: RuleP95Latency},
			on:        f.P95 > th,
			value:     millis(f.P95),
			threshold: millis(th),
		}
		o.message = fmt.Sprintf("p95 latency %s is %s %s%s",
			formatMillis(f.P95), above(o.on), formatMillis(th), node)
		obs = append(obs, resolvedPrefix(o))
	}
	if th := e.th.ErrorRate; th > 0 && f.Requests >= e.th.MinRequests {
		o := observation{
			key:       key{rule: RuleErrorRate},
			on:        f.ErrorRate > th,
			value:     f.ErrorRate,
			threshold: th,
		}
		o.message = fmt.Sprintf("error rate %s is %s %s%s (%d requests)",
			percent(f.ErrorRate), above(o.on), percent(th), node, f.Requests)
		obs = append(obs, resolvedPrefix(o))
	}
	if th := e.th.MemoryUse; th > 0 {
		o := observation{
			key:       key{rule: RuleMemory},
			on:        f.MemoryUse > th,
			value:     f.MemoryUse,
			threshold: th,
		}
		o.message = fmt.Sprintf("memory use is %s of the limit, %s %s%s",
			percent(f.MemoryUse), above(o.on), percent(th), node)
		obs = append(obs, resolvedPrefix(o))
	}
	if th := e.th.BudgetUse; th > 0 {
		o := observation{
			key:       key{rule: RuleBudgetUse},
			on:        f.BudgetUse > th,
			value:     f.BudgetUse,
			threshold: th,
		}
		o.message = fmt.Sprintf("open tenant databases are %s of the connection budget, %s %s%s",
			percent(f.BudgetUse), above(o.on), percent(th), node)
		obs = append(obs, resolvedPrefix(o))
	}
	return obs
}

// observeDatabases judges every measured tenant database, and resolves the
// firing tenants that were not measured. The caller holds e.mu.
func (e *Engine) observeDatabases(f Figures, th int64) []observation {
	var obs []observation
	for _, uuid := range slices.Sorted(maps.Keys(f.DatabaseSizes)) {
		size := f.DatabaseSizes[uuid]
		k := key{rule: RuleDatabaseSize, subject: uuid}
		label := tenantLabel(uuid, f.TenantNames[uuid])
		if c := e.firing[k]; c != nil && f.TenantNames[uuid] == "" {
			label = c.label
		}
		o := observation{
			key:       k,
			on:        size > th,
			value:     float64(size),
			threshold: float64(th),
			label:     label,
		}
		o.message = fmt.Sprintf("tenant %s database is %s, %s %s",
			label, formatBytes(size), above(o.on), formatBytes(th))
		obs = append(obs, resolvedPrefix(o))
	}
	var gone []key
	for k := range e.firing {
		if _, ok := f.DatabaseSizes[k.subject]; k.rule == RuleDatabaseSize && !ok {
			gone = append(gone, k)
		}
	}
	slices.SortFunc(gone, func(a, b key) int { return cmp.Compare(a.subject, b.subject) })
	for _, k := range gone {
		c := e.firing[k]
		obs = append(obs, observation{
			key:       k,
			threshold: float64(th),
			label:     c.label,
			message:   fmt.Sprintf("resolved: tenant %s database is no longer measured", c.label),
		})
	}
	return obs
}

// resolvedPrefix marks the message of an observation that does not hold
// as a resolution.
func resolvedPrefix(o observation) observation {
	if !o.on {
		o.message = "resolved: " + o.message
	}
	return o
}

// above words the comparison of a figure with its threshold.
func above(on bool) string {
	if on {
		return "above"
	}
	return "no longer above"
}

// tenantLabel names a tenant in messages: "Acme (uuid)" or "uuid".
func tenantLabel(uuid, name string) string {
	if name == "" {
		return uuid
	}
	return sanitize(name) + " (" + uuid + ")"
}

// sanitize replaces control characters (line breaks in a tenant's name,
// say) with spaces, so a message stays one line in every channel.
func sanitize(s string) string {
	b := []rune(s)
	for i, r := range b {
		if r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' {
			b[i] = ' '
		}
	}
	return string(b)
}

// millis returns d in milliseconds.
func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// formatMillis writes d in milliseconds: "412 ms", "41.2 ms", "0.412 ms".
func formatMillis(d time.Duration) string {
	ms := millis(d)
	if ms >= 100 {
		return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'g', 3, 64) + " ms"
}

// percent writes a share as a percentage with three significant digits:
// 0.032 → "3.2%", 0.8 → "80%".
func percent(share float64) string {
	p := share * 100
	if p >= 1000 || p <= -1000 {
		return strconv.FormatFloat(p, 'f', 0, 64) + "%"
	}
	return strconv.FormatFloat(p, 'g', 3, 64) + "%"
}

// formatBytes writes a size in SI units: "1.2 GB".
func formatBytes(n int64) string {
	if n < 0 {
		return "-" + humanize.Bytes(uint64(-n))
	}
	return humanize.Bytes(uint64(n))
}

package monitor

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector turns the families gathered at scrape time (from the Stats of
// the Manager, resolver, cache and jobs) into Prometheus metrics.
type collector struct{ m *Monitor }

// Describe sends nothing: the collector is unchecked, its series depend on
// the tenants of the moment.
func (collector) Describe(chan<- *prometheus.Desc) {}

// Collect reads the current figures.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, f := range c.m.collect(ctx) {
		for _, s := range f.samples {
			names := make([]string, len(s.labels))
			values := make([]string, len(s.labels))
			for i, l := range s.labels {
				names[i], values[i] = l.Name, l.Value
			}
			desc := prometheus.NewDesc(f.name, f.help, names, nil)
			switch f.typ {
			case counterType:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, s.value, values...)
			case gaugeType:
				ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, s.value, values...)
			case histogramType:
				buckets := make(map[float64]uint64, len(s.hist.upper))
				for i, up := range s.hist.upper {
					buckets[up] = s.hist.counts[i]
				}
				ch <- prometheus.MustNewConstHistogram(desc, s.hist.count, s.hist.sum, buckets, values...)
			}
		}
	}
}

// newMetricsHandler serves the tenancy figures with the Go runtime and
// process collectors of client_golang.
func newMetricsHandler(m *Monitor) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{m}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

package monitor

// metricType is a metric family's type.
type metricType string

// The metric types of the families.
const (
	counterType   metricType = "counter"
	gaugeType     metricType = "gauge"
	histogramType metricType = "histogram"
)

// labelPair is one label of a sample.
type labelPair struct {
	Name, Value string
}

// histogram is one histogram series. Counts are cumulative, as Prometheus
// wants them: counts[i] is the number of observations at most upper[i];
// the +Inf bucket is count.
type histogram struct {
	upper  []float64
	counts []uint64
	count  uint64
	sum    float64
}

// sample is one series of a family: value for counters and gauges, hist
// for histograms.
type sample struct {
	labels []labelPair
	value  float64
	hist   *histogram
}

// family is a metric family: a name, its help text, its type and its
// series.
type family struct {
	name    string
	help    string
	typ     metricType
	samples []sample
}

// newFamily returns an empty family.
func newFamily(name, help string, typ metricType) *family {
	return &family{name: name, help: help, typ: typ}
}

// add appends a counter or gauge series.
func (f *family) add(value float64, labels ...labelPair) {
	f.samples = append(f.samples, sample{labels: labels, value: value})
}

// addHistogram appends a histogram series.
func (f *family) addHistogram(h *histogram, labels ...labelPair) {
	f.samples = append(f.samples, sample{labels: labels, hist: h})
}

package alert

import "time"

// Rule names, used in Event.Rule and in configuration.
const (
	RuleDatabaseSize = "database_size"
	RuleP95Latency   = "p95_latency"
	RuleErrorRate    = "error_rate"
	RuleMemory       = "memory"
	RuleBudgetUse    = "connection_budget"
)

// Event is one alert: a rule's condition starting (Resolved false) or ending
// (Resolved true).
type Event struct {
	// ID numbers the events of this process from 1.
	ID int64 `json:"id"`
	// Rule is the rule's name (one of the Rule constants).
	Rule string `json:"rule"`
	// Subject is what the condition is about: "" for the node, else the
	// tenant's uuid (database size).
	Subject string `json:"subject,omitempty"`
	// Message is the human-readable text sent to the channels.
	Message string `json:"message"`
	// Value is the measured figure and Threshold the configured limit, in
	// the rule's unit (bytes, milliseconds or a 0…1 share).
	Value     float64 `json:"value"`
	Threshold float64 `json:"threshold"`
	// Resolved is true when the condition ended.
	Resolved bool `json:"resolved"`
	// Suppressed is true when the event was not sent: its rule and subject
	// had sent less than the cooldown before (for a Resolved event: its
	// start was not sent either).
	Suppressed bool `json:"suppressed,omitempty"`
	// At is when the event was raised.
	At time.Time `json:"at"`
	// Sent names the channels that accepted the message; Failed maps the
	// channels that did not to their error.
	Sent   []string          `json:"sent,omitempty"`
	Failed map[string]string `json:"failed,omitempty"`
}

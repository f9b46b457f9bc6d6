// Package alert evaluates alert rules against measured figures and sends
// notifications by webhook, Slack, Telegram and email, once per condition
// (a cooldown keeps one condition from sending more than one message), and
// keeps a history of what fired.
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
	// At is when the event was raised.
	At time.Time `json:"at"`
	// Sent names the channels that accepted the message; Failed maps the
	// channels that did not to their error.
	Sent   []string          `json:"sent,omitempty"`
	Failed map[string]string `json:"failed,omitempty"`
}

package alert

import "fmt"

// ConfigError reports a configuration value that cannot be used: a Config
// or SMTPConfig field, or an environment variable.
type ConfigError struct {
	// Name is the field ("Thresholds.ErrorRate") or the variable
	// ("TENANCY_ALERT_ERROR_RATE").
	Name string
	// Value is the value given; empty when Secret.
	Value string
	// Secret is true for a value the error must not repeat (a password, a
	// token, a Slack webhook URL).
	Secret bool
	// Reason says what is wrong.
	Reason string
}

// Error returns "alert: NAME=\"value\": reason" (the value hidden when
// secret).
func (e *ConfigError) Error() string {
	if e.Secret {
		return fmt.Sprintf("alert: %s (value hidden): %s", e.Name, e.Reason)
	}
	return fmt.Sprintf("alert: %s=%q: %s", e.Name, e.Value, e.Reason)
}

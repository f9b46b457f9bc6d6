// Package alert evaluates alert rules against measured figures and sends
// notifications by webhook, Slack, Telegram and email, once per condition
// (a cooldown keeps one condition from sending more than one message), and
// keeps a history of what fired.
//
// The package owns the rules (Thresholds), their evaluation (Engine), the
// notification channels (Notifier and its webhook, Slack, Telegram and SMTP
// implementations) and the reading of its configuration from the
// environment. It does not sample anything itself: the caller converts its
// monitoring sample into Figures and calls Engine.Evaluate, typically once
// per sampling interval.
//
// # Rules
//
// Every rule is off while its threshold is zero. A condition is identified
// by its rule and its subject ("" for the node, a tenant's uuid for the
// database-size rule). When a condition starts, the engine raises an Event
// and sends it to every notifier; when it ends, a Resolved event is raised
// and sent too. A condition that stays true sends one message, however many
// evaluations see it. After a condition has sent, the same rule and subject
// send again only once the condition has cleared and Config.Cooldown has
// passed since the last message; a start seen within the cooldown is kept in
// the history and in Active with Suppressed set, and is sent when it is
// still true after the cooldown.
//
// # Environment
//
// ThresholdsFromEnv and NotifiersFromEnv read these variables; an unset or
// empty variable (and a threshold of 0) leaves its rule or channel off:
//
//	TENANCY_ALERT_DATABASE_SIZE        any tenant database larger than this: bytes
//	                                   with an optional unit (500MB, 1GB, 1GiB)
//	TENANCY_ALERT_P95_LATENCY          the node's p95 request latency: a Go duration (200ms)
//	TENANCY_ALERT_ERROR_RATE           the share of 5xx responses: 0.01 or 1%
//	TENANCY_ALERT_MIN_REQUESTS         the latency and error-rate rules ignore
//	                                   intervals with fewer requests (default 20;
//	                                   tenancy serve judges the last 30 samples)
//	TENANCY_ALERT_MEMORY_USE           RSS over the memory limit: 0.8 or 80%
//	TENANCY_ALERT_CONNECTION_BUDGET    open tenant databases over the budget: 0.9 or 90%
//	TENANCY_ALERT_WEBHOOK_URL          POST the Event as JSON to this http(s) URL
//	TENANCY_ALERT_SLACK_WEBHOOK_URL    a Slack incoming webhook URL
//	TENANCY_ALERT_TELEGRAM_BOT_TOKEN   a Telegram bot token, with
//	TENANCY_ALERT_TELEGRAM_CHAT_ID     the chat the bot writes to
//	TENANCY_ALERT_SMTP_ADDR            an SMTP server, host:port
//	TENANCY_ALERT_SMTP_USERNAME        PLAIN authentication (optional), with
//	TENANCY_ALERT_SMTP_PASSWORD        its password
//	TENANCY_ALERT_EMAIL_FROM           the sender address
//	TENANCY_ALERT_EMAIL_TO             the recipients, comma-separated
//
// A value that cannot be used is a *ConfigError naming the variable and the
// value (secret values, the Slack webhook URL, the bot token and the SMTP
// password, are never repeated in errors or logs).
package alert

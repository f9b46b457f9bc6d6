package alert

import (
	"errors"
	"math"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dustin/go-humanize"
)

// The environment variables ThresholdsFromEnv and NotifiersFromEnv read
// (described in the package documentation).
const (
	EnvDatabaseSize     = "TENANCY_ALERT_DATABASE_SIZE"
	EnvP95Latency       = "TENANCY_ALERT_P95_LATENCY"
	EnvErrorRate        = "TENANCY_ALERT_ERROR_RATE"
	EnvMinRequests      = "TENANCY_ALERT_MIN_REQUESTS"
	EnvMemoryUse        = "TENANCY_ALERT_MEMORY_USE"
	EnvConnectionBudget = "TENANCY_ALERT_CONNECTION_BUDGET"
	EnvWebhookURL       = "TENANCY_ALERT_WEBHOOK_URL"
	EnvSlackWebhookURL  = "TENANCY_ALERT_SLACK_WEBHOOK_URL"
	EnvTelegramBotToken = "TENANCY_ALERT_TELEGRAM_BOT_TOKEN"
	EnvTelegramChatID   = "TENANCY_ALERT_TELEGRAM_CHAT_ID"
	EnvSMTPAddr         = "TENANCY_ALERT_SMTP_ADDR"
	EnvSMTPUsername     = "TENANCY_ALERT_SMTP_USERNAME"
	EnvSMTPPassword     = "TENANCY_ALERT_SMTP_PASSWORD"
	EnvEmailFrom        = "TENANCY_ALERT_EMAIL_FROM"
	EnvEmailTo          = "TENANCY_ALERT_EMAIL_TO"
)

// ThresholdsFromEnv reads the thresholds from the TENANCY_ALERT_DATABASE_SIZE,
// _P95_LATENCY, _ERROR_RATE, _MIN_REQUESTS, _MEMORY_USE and
// _CONNECTION_BUDGET variables through getenv (os.Getenv when nil). An
// unset variable leaves its rule off (MinRequests at its default). Bad
// values are *ConfigError naming the variable and the value, all of them
// joined.
func ThresholdsFromEnv(getenv func(string) string) (Thresholds, error) {
	get := envReader(getenv)
	var th Thresholds
	var errs []error
	if v := get(EnvDatabaseSize); v != "" {
		n, err := parseBytes(v)
		if err != nil {
			errs = append(errs, &ConfigError{Name: EnvDatabaseSize, Value: v, Reason: err.Error()})
		}
		th.DatabaseSizeBytes = n
	}
	if v := get(EnvP95Latency); v != "" {
		d, err := time.ParseDuration(v)
		switch {
		case err != nil:
			errs = append(errs, &ConfigError{Name: EnvP95Latency, Value: v, Reason: "is not a duration such as 200ms"})
		case d < 0:
			errs = append(errs, &ConfigError{Name: EnvP95Latency, Value: v, Reason: "is negative"})
		}
		th.P95Latency = d
	}
	if v := get(EnvMinRequests); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			errs = append(errs, &ConfigError{Name: EnvMinRequests, Value: v, Reason: "is not a whole number from 1"})
		}
		th.MinRequests = n
	}
	for _, s := range []struct {
		name string
		dst  *float64
	}{
		{EnvErrorRate, &th.ErrorRate},
		{EnvMemoryUse, &th.MemoryUse},
		{EnvConnectionBudget, &th.BudgetUse},
	} {
		if v := get(s.name); v != "" {
			f, err := parseShare(v)
			if err != nil {
				errs = append(errs, &ConfigError{Name: s.name, Value: v, Reason: err.Error()})
			}
			*s.dst = f
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Thresholds{}, err
	}
	if th.MinRequests == 0 {
		th.MinRequests = DefaultMinRequests
	}
	return th, nil
}

// NotifiersFromEnv returns the notifiers the TENANCY_ALERT_* channel
// variables configure, read through getenv (os.Getenv when nil), in the
// order webhook, Slack, Telegram, email; none when none is set. client
// (http.DefaultClient when nil) sends the HTTP notifications. Bad or
// incomplete settings are *ConfigError naming the variable, all of them
// joined.
func NotifiersFromEnv(getenv func(string) string, client *http.Client) ([]Notifier, error) {
	get := envReader(getenv)
	var out []Notifier
	var errs []error
	if v := get(EnvWebhookURL); v != "" {
		if err := checkHTTPURL(v); err != nil {
			errs = append(errs, &ConfigError{Name: EnvWebhookURL, Value: v, Reason: err.Error()})
		} else {
			out = append(out, NewWebhook(v, client))
		}
	}
	if v := get(EnvSlackWebhookURL); v != "" {
		if err := checkHTTPURL(v); err != nil {
			errs = append(errs, &ConfigError{Name: EnvSlackWebhookURL, Secret: true, Reason: err.Error()})
		} else {
			out = append(out, NewSlack(v, client))
		}
	}
	token, chat := get(EnvTelegramBotToken), get(EnvTelegramChatID)
	switch {
	case token != "" && chat == "":
		errs = append(errs, &ConfigError{Name: EnvTelegramChatID, Reason: "is required with " + EnvTelegramBotToken})
	case token == "" && chat != "":
		errs = append(errs, &ConfigError{Name: EnvTelegramBotToken, Reason: "is required with " + EnvTelegramChatID})
	case token != "" && strings.ContainsAny(token, "/?#% "):
		errs = append(errs, &ConfigError{Name: EnvTelegramBotToken, Secret: true, Reason: "is not a bot token"})
	case token != "":
		out = append(out, NewTelegram(token, chat, client))
	}
	if n, err := smtpFromEnv(get); err != nil {
		errs = append(errs, err)
	} else if n != nil {
		out = append(out, n)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// smtpFromEnv returns the email notifier, nil when no SMTP variable is set.
func smtpFromEnv(get func(string) string) (Notifier, error) {
	cfg := SMTPConfig{
		Addr:     get(EnvSMTPAddr),
		Username: get(EnvSMTPUsername),
		Password: get(EnvSMTPPassword),
		From:     get(EnvEmailFrom),
	}
	to := get(EnvEmailTo)
	if cfg.Addr == "" && cfg.Username == "" && cfg.Password == "" && cfg.From == "" && to == "" {
		return nil, nil
	}
	var errs []error
	required := func(name, v string) {
		if v == "" {
			errs = append(errs, &ConfigError{Name: name, Reason: "is required for email alerts"})
		}
	}
	required(EnvSMTPAddr, cfg.Addr)
	required(EnvEmailFrom, cfg.From)
	required(EnvEmailTo, to)
	if host, port, err := net.SplitHostPort(cfg.Addr); cfg.Addr != "" && (err != nil || host == "" || port == "") {
		errs = append(errs, &ConfigError{Name: EnvSMTPAddr, Value: cfg.Addr, Reason: "is not host:port"})
	}
	if cfg.Password != "" && cfg.Username == "" {
		errs = append(errs, &ConfigError{Name: EnvSMTPPassword, Secret: true, Reason: "is set without " + EnvSMTPUsername})
	}
	if cfg.From != "" {
		if _, err := mail.ParseAddress(cfg.From); err != nil {
			errs = append(errs, &ConfigError{Name: EnvEmailFrom, Value: cfg.From, Reason: "is not an email address"})
		}
	}
	if to != "" {
		list, err := mail.ParseAddressList(to)
		if err != nil {
			errs = append(errs, &ConfigError{Name: EnvEmailTo, Value: to, Reason: "is not a comma-separated list of email addresses"})
		}
		for _, a := range list {
			cfg.To = append(cfg.To, a.String())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return NewSMTP(cfg)
}

// envReader returns getenv (os.Getenv when nil) with values trimmed.
func envReader(getenv func(string) string) func(string) string {
	if getenv == nil {
		getenv = os.Getenv
	}
	return func(name string) string { return strings.TrimSpace(getenv(name)) }
}

// parseBytes reads a size: bytes with an optional SI or IEC unit
// ("500MB", "1GB", "1GiB", "1024").
func parseBytes(s string) (int64, error) {
	n, err := humanize.ParseBytes(s)
	if err != nil || n > math.MaxInt64 {
		return 0, errors.New("is not a size such as 500MB, 1GB or 1GiB")
	}
	return int64(n), nil
}

// parseShare reads a share from 0 to 1, as a fraction ("0.01") or a
// percentage ("1%").
func parseShare(s string) (float64, error) {
	bad := errors.New("is not a share from 0 to 1 such as 0.8 or 80%")
	num, pct := strings.CutSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, bad
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 {
		return 0, bad
	}
	return f, nil
}

// checkHTTPURL checks that s is an absolute http or https URL with a host.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("is not an absolute http(s) URL")
	}
	return nil
}

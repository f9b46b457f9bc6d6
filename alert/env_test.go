package alert_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/alert"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestThresholdsFromEnv(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want alert.Thresholds
	}{
		{"nothing set", nil, alert.Thresholds{MinRequests: 20}},
		{"everything", map[string]string{
			alert.EnvDatabaseSize:     "500MB",
			alert.EnvP95Latency:       "200ms",
			alert.EnvErrorRate:        "0.01",
			alert.EnvMinRequests:      "50",
			alert.EnvMemoryUse:        "0.8",
			alert.EnvConnectionBudget: "0.9",
		}, alert.Thresholds{DatabaseSizeBytes: 500_000_000, P95Latency: 200 * time.Millisecond,
			ErrorRate: 0.01, MinRequests: 50, MemoryUse: 0.8, BudgetUse: 0.9}},
		{"percentages", map[string]string{
			alert.EnvErrorRate:        "1%",
			alert.EnvMemoryUse:        "80%",
			alert.EnvConnectionBudget: " 90 % ",
		}, alert.Thresholds{ErrorRate: 0.01, MemoryUse: 0.8, BudgetUse: 0.9, MinRequests: 20}},
		{"sizes: GB", map[string]string{alert.EnvDatabaseSize: "1GB"}, alert.Thresholds{DatabaseSizeBytes: 1e9, MinRequests: 20}},
		{"sizes: GiB", map[string]string{alert.EnvDatabaseSize: "1GiB"}, alert.Thresholds{DatabaseSizeBytes: 1 << 30, MinRequests: 20}},
		{"sizes: decimal with space", map[string]string{alert.EnvDatabaseSize: "1.5 GB"}, alert.Thresholds{DatabaseSizeBytes: 1_500_000_000, MinRequests: 20}},
		{"sizes: plain bytes", map[string]string{alert.EnvDatabaseSize: "1048576"}, alert.Thresholds{DatabaseSizeBytes: 1 << 20, MinRequests: 20}},
		{"zero turns a rule off", map[string]string{alert.EnvDatabaseSize: "0", alert.EnvP95Latency: "0s", alert.EnvErrorRate: "0%"},
			alert.Thresholds{MinRequests: 20}},
		{"latency in seconds", map[string]string{alert.EnvP95Latency: "1.5s"}, alert.Thresholds{P95Latency: 1500 * time.Millisecond, MinRequests: 20}},
		{"whole share", map[string]string{alert.EnvMemoryUse: "1"}, alert.Thresholds{MemoryUse: 1, MinRequests: 20}},
		{"blank is unset", map[string]string{alert.EnvP95Latency: "  "}, alert.Thresholds{MinRequests: 20}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := alert.ThresholdsFromEnv(env(tt.env))
			if err != nil {
				t.Fatalf("ThresholdsFromEnv: %v", err)
			}
			if got != tt.want {
				t.Errorf("ThresholdsFromEnv = %+v, want %+v", got, tt.want)
			}
			if _, err := alert.New(&alert.Config{Thresholds: got}); err != nil {
				t.Errorf("New refuses the thresholds: %v", err)
			}
		})
	}
}

func TestThresholdsFromEnvErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, value string }{
		{alert.EnvDatabaseSize, "lots"},
		{alert.EnvDatabaseSize, "-1GB"},
		{alert.EnvDatabaseSize, "1e3"},
		{alert.EnvDatabaseSize, "20EB"},
		{alert.EnvDatabaseSize, "10 parsecs"},
		{alert.EnvP95Latency, "200"},
		{alert.EnvP95Latency, "-1s"},
		{alert.EnvP95Latency, "fast"},
		{alert.EnvErrorRate, "1.5"},
		{alert.EnvErrorRate, "150%"},
		{alert.EnvErrorRate, "-0.1"},
		{alert.EnvErrorRate, "NaN"},
		{alert.EnvErrorRate, "Inf"},
		{alert.EnvErrorRate, "%"},
		{alert.EnvErrorRate, "one percent"},
		{alert.EnvMemoryUse, "80"},
		{alert.EnvConnectionBudget, "90%%"},
		{alert.EnvMinRequests, "0"},
		{alert.EnvMinRequests, "-5"},
		{alert.EnvMinRequests, "many"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			_, err := alert.ThresholdsFromEnv(env(map[string]string{tt.name: tt.value}))
			var ce *alert.ConfigError
			if !errors.As(err, &ce) || ce.Name != tt.name || ce.Value != tt.value {
				t.Fatalf("err = %v, want a *ConfigError for %s=%q", err, tt.name, tt.value)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.name) || !strings.Contains(msg, tt.value) {
				t.Errorf("err = %q, want it to name %s and %q", msg, tt.name, tt.value)
			}
		})
	}
}

func TestThresholdsFromEnvJoinsErrors(t *testing.T) {
	t.Parallel()
	_, err := alert.ThresholdsFromEnv(env(map[string]string{alert.EnvP95Latency: "x", alert.EnvMemoryUse: "y"}))
	if err == nil || !strings.Contains(err.Error(), alert.EnvP95Latency) || !strings.Contains(err.Error(), alert.EnvMemoryUse) {
		t.Errorf("err = %v, want both variables named", err)
	}
}

func TestNotifiersFromEnv(t *testing.T) {
	t.Parallel()
	smtp := map[string]string{
		alert.EnvSMTPAddr:  "smtp.example.com:587",
		alert.EnvEmailFrom: "Tenancy <alerts@example.com>",
		alert.EnvEmailTo:   "ops@example.com, Jane <jane@example.org>",
	}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		want []string // notifier names
	}{
		{"none", nil, nil},
		{"webhook", map[string]string{alert.EnvWebhookURL: "https://ops.example.com/alerts?key=1"}, []string{"webhook"}},
		{"http webhook", map[string]string{alert.EnvWebhookURL: "http://10.0.0.5:8080/hook"}, []string{"webhook"}},
		{"slack", map[string]string{alert.EnvSlackWebhookURL: "https://hooks.slack.com/services/T0/B0/XYZ"}, []string{"slack"}},
		{"telegram", map[string]string{alert.EnvTelegramBotToken: "123:ABC", alert.EnvTelegramChatID: "-100123"}, []string{"telegram"}},
		{"email", smtp, []string{"email"}},
		{"email with auth", with(smtp, alert.EnvSMTPUsername, "u", alert.EnvSMTPPassword, "p"), []string{"email"}},
		{"all, in order", with(smtp,
			alert.EnvTelegramBotToken, "123:ABC", alert.EnvTelegramChatID, "@ops",
			alert.EnvSlackWebhookURL, "https://hooks.slack.com/services/T0/B0/XYZ",
			alert.EnvWebhookURL, "https://ops.example.com/alerts",
		), []string{"webhook", "slack", "telegram", "email"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns, err := alert.NotifiersFromEnv(env(tt.env), nil)
			if err != nil {
				t.Fatalf("NotifiersFromEnv: %v", err)
			}
			var names []string
			for _, n := range ns {
				names = append(names, n.Name())
			}
			if strings.Join(names, ",") != strings.Join(tt.want, ",") {
				t.Errorf("notifiers %q, want %q", names, tt.want)
			}
			if _, err := alert.New(&alert.Config{Notifiers: ns}); err != nil {
				t.Errorf("New refuses the notifiers: %v", err)
			}
		})
	}
}

func TestNotifiersFromEnvErrors(t *testing.T) {
	t.Parallel()
	smtp := map[string]string{
		alert.EnvSMTPAddr:  "smtp.example.com:587",
		alert.EnvEmailFrom: "alerts@example.com",
		alert.EnvEmailTo:   "ops@example.com",
	}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range smtp {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		env    map[string]string
		var_   string // the variable the error names
		value  string // the value it repeats; "" when none
		secret string // a value it must not repeat
	}{
		{"webhook without scheme", map[string]string{alert.EnvWebhookURL: "ops.example.com/alerts"}, alert.EnvWebhookURL, "ops.example.com/alerts", ""},
		{"webhook ftp", map[string]string{alert.EnvWebhookURL: "ftp://ops.example.com/"}, alert.EnvWebhookURL, "ftp://ops.example.com/", ""},
		{"webhook no host", map[string]string{alert.EnvWebhookURL: "https:///path"}, alert.EnvWebhookURL, "https:///path", ""},
		{"webhook relative", map[string]string{alert.EnvWebhookURL: "/alerts"}, alert.EnvWebhookURL, "/alerts", ""},
		{"webhook unparsable", map[string]string{alert.EnvWebhookURL: "http://[::1"}, alert.EnvWebhookURL, "http://[::1", ""},
		{"slack without scheme", map[string]string{alert.EnvSlackWebhookURL: "hooks.slack.com/services/T0/B0/TOPSECRET"}, alert.EnvSlackWebhookURL, "", "TOPSECRET"},
		{"telegram without chat", map[string]string{alert.EnvTelegramBotToken: "123:TOPSECRET"}, alert.EnvTelegramChatID, "", "TOPSECRET"},
		{"telegram without token", map[string]string{alert.EnvTelegramChatID: "42"}, alert.EnvTelegramBotToken, "", ""},
		{"telegram bad token", map[string]string{alert.EnvTelegramBotToken: "123/TOPSECRET", alert.EnvTelegramChatID: "42"}, alert.EnvTelegramBotToken, "", "TOPSECRET"},
		{"email without addr", map[string]string{alert.EnvEmailTo: "ops@example.com", alert.EnvEmailFrom: "a@example.com"}, alert.EnvSMTPAddr, "", ""},
		{"email without from", with(alert.EnvEmailFrom, ""), alert.EnvEmailFrom, "", ""},
		{"email without to", with(alert.EnvEmailTo, ""), alert.EnvEmailTo, "", ""},
		{"only a password", map[string]string{alert.EnvSMTPPassword: "TOPSECRET"}, alert.EnvSMTPAddr, "", "TOPSECRET"},
		{"password without username", with(alert.EnvSMTPPassword, "TOPSECRET"), alert.EnvSMTPPassword, "", "TOPSECRET"},
		{"addr without port", with(alert.EnvSMTPAddr, "smtp.example.com"), alert.EnvSMTPAddr, "smtp.example.com", ""},
		{"bad from", with(alert.EnvEmailFrom, "alerts at example"), alert.EnvEmailFrom, "alerts at example", ""},
		{"bad to", with(alert.EnvEmailTo, "ops@example.com; dev@example.com"), alert.EnvEmailTo, "ops@example.com; dev@example.com", ""},
		{"one bad to", with(alert.EnvEmailTo, "ops@example.com, nope"), alert.EnvEmailTo, "ops@example.com, nope", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ns, err := alert.NotifiersFromEnv(env(tt.env), nil)
			if err == nil {
				t.Fatalf("NotifiersFromEnv = %d notifiers, want an error naming %s", len(ns), tt.var_)
			}
			var ce *alert.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *ConfigError", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.var_) {
				t.Errorf("err = %q, want it to name %s", msg, tt.var_)
			}
			if tt.value != "" && !strings.Contains(msg, tt.value) {
				t.Errorf("err = %q, want it to repeat %q", msg, tt.value)
			}
			if tt.secret != "" && strings.Contains(msg, tt.secret) {
				t.Errorf("err = %q repeats a secret", msg)
			}
		})
	}
}

// TestNotifiersFromEnvUseClient checks that the HTTP notifiers send with
// the given client.
func TestNotifiersFromEnvUseClient(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	ns, err := alert.NotifiersFromEnv(env(map[string]string{alert.EnvWebhookURL: srv.URL}), srv.Client())
	if err != nil || len(ns) != 1 {
		t.Fatalf("NotifiersFromEnv = %v, %v", ns, err)
	}
	// Only srv.Client() trusts the test server's certificate.
	if err := ns[0].Notify(t.Context(), testEvent); err != nil {
		t.Errorf("Notify: %v", err)
	}
}

// FuzzThresholdsFromEnv checks that any value either parses into
// thresholds New accepts or is a *ConfigError naming its variable.
func FuzzThresholdsFromEnv(f *testing.F) {
	for _, s := range []string{"500MB", "1GiB", "200ms", "0.01", "1%", "80 %", "-1", "NaN", "1e400", "0x1p-2", "", "%", "9223372036854775807"} {
		f.Add(s)
	}
	vars := []string{alert.EnvDatabaseSize, alert.EnvP95Latency, alert.EnvErrorRate, alert.EnvMinRequests,
		alert.EnvMemoryUse, alert.EnvConnectionBudget}
	f.Fuzz(func(t *testing.T, value string) {
		for _, name := range vars {
			th, err := alert.ThresholdsFromEnv(env(map[string]string{name: value}))
			if err != nil {
				var ce *alert.ConfigError
				if !errors.As(err, &ce) || ce.Name != name {
					t.Fatalf("%s=%q: err = %v, want a *ConfigError naming the variable", name, value, err)
				}
				continue
			}
			if _, err := alert.New(&alert.Config{Thresholds: th}); err != nil {
				t.Fatalf("%s=%q parsed to %+v, which New refuses: %v", name, value, th, err)
			}
		}
	})
}

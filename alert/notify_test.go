package alert_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/alert"
)

// request is what a test server received.
type request struct {
	method, path, contentType string
	body                      []byte
}

// server starts an httptest.Server that records the requests and answers
// status and answer.
func server(t *testing.T, status int, answer string) (*httptest.Server, func() []request) {
	t.Helper()
	var mu sync.Mutex
	var got []request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), body})
		mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), got...)
	}
}

var testEvent = alert.Event{
	ID:        7,
	Rule:      alert.RuleP95Latency,
	Message:   "p95 latency 412 ms is above 200 ms on node web-1",
	Value:     412,
	Threshold: 200,
	At:        time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
}

// checkRequest checks the one request a notifier made.
func checkRequest(t *testing.T, got []request, path string, wantBody any) {
	t.Helper()
	if len(got) != 1 {
		t.Fatalf("server got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost || r.path != path || r.contentType != "application/json" {
		t.Errorf("request %s %s (%s), want POST %s (application/json)", r.method, r.path, r.contentType, path)
	}
	want, err := json.Marshal(wantBody)
	if err != nil {
		t.Fatal(err)
	}
	// Compare as JSON values: the order of an object's members is free.
	var gotV, wantV any
	if err := json.Unmarshal(r.body, &gotV); err != nil {
		t.Fatalf("body %s is not JSON: %v", r.body, err)
	}
	json.Unmarshal(want, &wantV)
	if !reflect.DeepEqual(gotV, wantV) {
		t.Errorf("body\n %s\nwant\n %s", r.body, want)
	}
}

func TestWebhook(t *testing.T) {
	t.Parallel()
	srv, got := server(t, http.StatusNoContent, "")
	n := alert.NewWebhook(srv.URL+"/hooks/alerts", srv.Client())
	if n.Name() != "webhook" {
		t.Errorf("Name() = %q", n.Name())
	}
	if err := n.Notify(t.Context(), testEvent); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	checkRequest(t, got(), "/hooks/alerts", map[string]any{
		"id": 7, "rule": "p95_latency", "message": testEvent.Message,
		"value": 412, "threshold": 200, "resolved": false, "at": "2026-03-01T12:00:00Z",
	})
}

func TestSlack(t *testing.T) {
	t.Parallel()
	srv, got := server(t, http.StatusOK, "ok")
	n := alert.NewSlack(srv.URL+"/services/T000/B000/SECRET", srv.Client())
	if n.Name() != "slack" {
		t.Errorf("Name() = %q", n.Name())
	}
	if err := n.Notify(t.Context(), testEvent); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	checkRequest(t, got(), "/services/T000/B000/SECRET", map[string]string{"text": testEvent.Message})
}

func TestTelegram(t *testing.T) {
	t.Parallel()
	srv, got := server(t, http.StatusOK, `{"ok":true,"result":{"message_id":1}}`)
	n := alert.NewTelegram("123456:ABC-def_GHI", "-100200300", srv.Client())
	if n.Name() != "telegram" {
		t.Errorf("Name() = %q", n.Name())
	}
	tg, ok := n.(*alert.Telegram)
	if !ok {
		t.Fatalf("NewTelegram returned a %T, want a *alert.Telegram", n)
	}
	if tg.BaseURL != "" {
		t.Errorf("BaseURL = %q, want empty (the default, %s)", tg.BaseURL, alert.TelegramAPI)
	}
	tg.BaseURL = srv.URL
	if err := n.Notify(t.Context(), testEvent); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	checkRequest(t, got(), "/bot123456:ABC-def_GHI/sendMessage",
		map[string]string{"chat_id": "-100200300", "text": testEvent.Message})
}

func TestHTTPNotifierFailures(t *testing.T) {
	t.Parallel()
	const secret = "SECRET-PART"
	tests := []struct {
		name    string
		status  int
		answer  string
		notify  func(base string, c *http.Client) alert.Notifier
		wantErr string
	}{
		{"webhook 500", http.StatusInternalServerError, "upstream down",
			func(base string, c *http.Client) alert.Notifier { return alert.NewWebhook(base+"/"+secret, c) },
			"webhook: status 500 Internal Server Error: upstream down"},
		{"webhook redirect", http.StatusMultipleChoices, "",
			func(base string, c *http.Client) alert.Notifier { return alert.NewWebhook(base+"/"+secret, c) },
			"webhook: status 300 Multiple Choices: (empty answer)"},
		{"slack 404", http.StatusNotFound, "no_service",
			func(base string, c *http.Client) alert.Notifier { return alert.NewSlack(base+"/services/"+secret, c) },
			"slack: status 404 Not Found: no_service"},
		{"telegram 400", http.StatusBadRequest, `{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`,
			func(base string, c *http.Client) alert.Notifier {
				return &alert.Telegram{BotToken: secret, ChatID: "1", BaseURL: base, Client: c}
			},
			`telegram: status 400 Bad Request: {"ok":false,"error_code":400,"description":"Bad Request: chat not found"}`},
		{"telegram not ok", http.StatusOK, `{"ok":false,"description":"Forbidden: bot was blocked by the user"}`,
			func(base string, c *http.Client) alert.Notifier {
				return &alert.Telegram{BotToken: secret, ChatID: "1", BaseURL: base, Client: c}
			},
			"telegram: not ok: Forbidden: bot was blocked by the user"},
		{"telegram not JSON", http.StatusOK, "<html>",
			func(base string, c *http.Client) alert.Notifier {
				return &alert.Telegram{BotToken: secret, ChatID: "1", BaseURL: base, Client: c}
			},
			"telegram: unreadable answer: <html>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, got := server(t, tt.status, tt.answer)
			err := tt.notify(srv.URL, srv.Client()).Notify(t.Context(), testEvent)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Notify: err = %v, want %q", err, tt.wantErr)
			}
			if len(got()) != 1 {
				t.Errorf("server got %d requests, want 1", len(got()))
			}
		})
	}
}

// TestHTTPNotifierErrorsHideURL checks that a failed connection's error
// does not repeat the URL, whose path may be a secret.
func TestHTTPNotifierErrorsHideURL(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now
	const secret = "SECRET-PART"
	for _, n := range []alert.Notifier{
		alert.NewWebhook(base+"/"+secret, nil),
		alert.NewSlack(base+"/services/"+secret, nil),
		&alert.Telegram{BotToken: secret, ChatID: "1", BaseURL: base},
	} {
		err := n.Notify(t.Context(), testEvent)
		if err == nil {
			t.Errorf("%s: Notify succeeded with nothing listening", n.Name())
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), base) {
			t.Errorf("%s: err = %q repeats the URL", n.Name(), err)
		}
		if !strings.HasPrefix(err.Error(), n.Name()+": post: ") {
			t.Errorf("%s: err = %q, want it to say the post failed", n.Name(), err)
		}
	}
}

// TestEngineWithWebhook sends through the engine to a real server.
func TestEngineWithWebhook(t *testing.T) {
	t.Parallel()
	srv, got := server(t, http.StatusOK, "")
	e := newEngine(t, &alert.Config{
		Thresholds: alert.Thresholds{BudgetUse: 0.9},
		Notifiers:  []alert.Notifier{alert.NewWebhook(srv.URL, srv.Client())},
	})
	evs := e.Evaluate(t.Context(), alert.Figures{BudgetUse: 1})
	if len(evs) != 1 || len(evs[0].Sent) != 1 || evs[0].Sent[0] != "webhook" {
		t.Fatalf("raised %+v, want one event sent by the webhook", evs)
	}
	var sent alert.Event
	if err := json.Unmarshal(got()[0].body, &sent); err != nil {
		t.Fatal(err)
	}
	if sent.ID != evs[0].ID || sent.Message != evs[0].Message || sent.Rule != alert.RuleBudgetUse {
		t.Errorf("posted %+v, want %+v", sent, evs[0])
	}
}

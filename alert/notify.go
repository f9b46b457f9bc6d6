package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// TelegramAPI is the Telegram Bot API's base URL, Telegram.BaseURL's default.
const TelegramAPI = "https://api.telegram.org"

// userAgent identifies the notifications' HTTP requests.
const userAgent = "tenancy-alert"

// Compile-time checks that the channels are Notifiers.
var (
	_ Notifier = (*webhook)(nil)
	_ Notifier = (*slack)(nil)
	_ Notifier = (*Telegram)(nil)
)

// webhook posts the Event as JSON.
type webhook struct {
	url    string
	client *http.Client
}

// NewWebhook returns a Notifier named "webhook" that POSTs each Event as
// JSON (Content-Type application/json) to url; a 2xx answer means sent. A
// nil client is http.DefaultClient; the engine's send timeout bounds each
// request. The url is not checked here (NotifiersFromEnv checks it).
func NewWebhook(url string, client *http.Client) Notifier {
	return &webhook{url: url, client: orDefault(client)}
}

// Name returns "webhook".
func (w *webhook) Name() string { return "webhook" }

// Notify posts e.
func (w *webhook) Notify(ctx context.Context, e Event) error {
	if _, err := postJSON(ctx, w.client, w.url, e); err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	return nil
}

// slack posts to a Slack incoming webhook.
type slack struct {
	url    string
	client *http.Client
}

// NewSlack returns a Notifier named "slack" that POSTs {"text": message}
// to a Slack incoming webhook URL; a 2xx answer means sent. A nil client is
// http.DefaultClient. The URL is a secret: errors never repeat it.
func NewSlack(webhookURL string, client *http.Client) Notifier {
	return &slack{url: webhookURL, client: orDefault(client)}
}

// Name returns "slack".
func (s *slack) Name() string { return "slack" }

// Notify posts e's message.
func (s *slack) Notify(ctx context.Context, e Event) error {
	body := struct {
		Text string `json:"text"`
	}{Text: e.Message}
	if _, err := postJSON(ctx, s.client, s.url, body); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// Telegram sends messages through a Telegram bot. NewTelegram returns one;
// its fields may be changed before it is used (not while it is).
type Telegram struct {
	// BotToken is the bot's token (a secret: errors never repeat it).
	BotToken string
	// ChatID is the chat to write to: a number or "@channelname".
	ChatID string
	// BaseURL is the Bot API's base URL; TelegramAPI when empty. Tests
	// point it at an httptest.Server.
	BaseURL string
	// Client sends the requests; http.DefaultClient when nil.
	Client *http.Client
}

// NewTelegram returns a Notifier named "telegram", a *Telegram, that POSTs
// {"chat_id": chatID, "text": message} as JSON to
// <BaseURL>/bot<botToken>/sendMessage. A nil client is http.DefaultClient.
func NewTelegram(botToken, chatID string, client *http.Client) Notifier {
	return &Telegram{BotToken: botToken, ChatID: chatID, Client: client}
}

// Name returns "telegram".
func (t *Telegram) Name() string { return "telegram" }

// Notify sends e's message as plain text (no parse mode, so nothing in a
// message is read as markup). The Bot API must answer {"ok": true}.
func (t *Telegram) Notify(ctx context.Context, e Event) error {
	base := t.BaseURL
	if base == "" {
		base = TelegramAPI
	}
	target, err := url.JoinPath(base, "bot"+t.BotToken, "sendMessage")
	if err != nil {
		return errors.New("telegram: bad base URL")
	}
	body := struct {
		ChatID string `json:"chat_id"`
		Text   string `json:"text"`
	}{ChatID: t.ChatID, Text: e.Message}
	answer, err := postJSON(ctx, orDefault(t.Client), target, body)
	if err != nil {
		return fmt.Errorf("telegram: %w", err)
	}
	var reply struct {
		OK          bool   `json:"ok"`
		Description string `json:"description"`
	}
	if err := json.Unmarshal(answer, &reply); err != nil {
		return fmt.Errorf("telegram: unreadable answer: %s", snippet(answer))
	}
	if !reply.OK {
		return fmt.Errorf("telegram: not ok: %s", snippet([]byte(reply.Description)))
	}
	return nil
}

// orDefault returns c, or http.DefaultClient when c is nil.
func orDefault(c *http.Client) *http.Client {
	if c == nil {
		return http.DefaultClient
	}
	return c
}

// maxAnswer bounds how much of an answer is read.
const maxAnswer = 64 << 10

// postJSON POSTs v as JSON to target and returns the answer's body when its
// status is 2xx. Its errors do not contain target, which may hold a secret
// (a Slack webhook's path, a bot token).
func postJSON(ctx context.Context, client *http.Client, target string, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, errors.New("bad URL")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", userAgent)
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL
		}
		return nil, fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("status %s: %s", resp.Status, snippet(answer))
	}
	return answer, nil
}

// snippet returns the start of an answer's body for an error, on one line.
func snippet(b []byte) string {
	s := strings.TrimSpace(sanitize(string(bytes.ToValidUTF8(b, []byte("?")))))
	if len(s) > 200 {
		s = strings.ToValidUTF8(s[:200], "") + "…"
	}
	if s == "" {
		return "(empty answer)"
	}
	return s
}

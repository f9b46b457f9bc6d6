package alert_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/textproto"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/alert"
)

// fakeSMTP is a minimal SMTP server for tests: EHLO, STARTTLS (when tls is
// set), AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP and QUIT. It records the
// messages it accepts.
type fakeSMTP struct {
	ln         net.Listener
	tls        *tls.Config // offer STARTTLS with this configuration
	noAuth     bool        // do not offer AUTH
	rejectRcpt string      // answer 550 to RCPT for this address
	silent     bool        // accept connections but never answer

	mu       sync.Mutex
	messages []smtpMessage
	wg       sync.WaitGroup
}

// smtpMessage is one accepted message.
type smtpMessage struct {
	helo     string
	from     string
	to       []string
	auth     string // the decoded AUTH PLAIN response
	authTLS  bool   // AUTH came after STARTTLS
	data     string // with LF line ends
	tls      bool   // DATA came after STARTTLS
	mailArgs string // the whole MAIL command's argument
}

// startSMTP starts f on 127.0.0.1 and returns its address.
func startSMTP(t *testing.T, f *fakeSMTP) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.ln = ln
	f.wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			f.wg.Go(func() { f.serve(conn) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		f.wg.Wait()
	})
	return ln.Addr().String()
}

// received returns the accepted messages.
func (f *fakeSMTP) received() []smtpMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]smtpMessage(nil), f.messages...)
}

func (f *fakeSMTP) serve(conn net.Conn) {
	defer func() { conn.Close() }()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if f.silent {
		io.Copy(io.Discard, conn) // until the client gives up
		return
	}
	tp := textproto.NewConn(conn)
	tp.PrintfLine("220 fake.test ESMTP")
	var m smtpMessage
	tlsOn := false
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			m.helo = arg
			ext := []string{"fake.test", "8BITMIME"}
			if !f.noAuth {
				ext = append(ext, "AUTH PLAIN")
			}
			if f.tls != nil && !tlsOn {
				ext = append(ext, "STARTTLS")
			}
			for i, e := range ext {
				sep := "-"
				if i == len(ext)-1 {
					sep = " "
				}
				tp.PrintfLine("250%s%s", sep, e)
			}
		case "STARTTLS":
			if f.tls == nil || tlsOn {
				tp.PrintfLine("502 5.5.1 not offered")
				continue
			}
			tp.PrintfLine("220 2.0.0 ready")
			tc := tls.Server(conn, f.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			conn, tp, tlsOn = tc, textproto.NewConn(tc), true
			m = smtpMessage{}
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			dec, err := base64.StdEncoding.DecodeString(resp)
			if f.noAuth || mech != "PLAIN" || err != nil {
				tp.PrintfLine("504 5.5.4 unrecognized")
				continue
			}
			m.auth, m.authTLS = string(dec), tlsOn
			tp.PrintfLine("235 2.7.0 accepted")
		case "MAIL":
			m.mailArgs = arg
			m.from = between(arg, "<", ">")
			tp.PrintfLine("250 2.1.0 ok")
		case "RCPT":
			to := between(arg, "<", ">")
			if to == f.rejectRcpt {
				tp.PrintfLine("550 5.1.1 no such user")
				continue
			}
			m.to = append(m.to, to)
			tp.PrintfLine("250 2.1.5 ok")
		case "DATA":
			tp.PrintfLine("354 go ahead")
			data, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			m.data, m.tls = string(data), tlsOn
			f.mu.Lock()
			f.messages = append(f.messages, m)
			f.mu.Unlock()
			m = smtpMessage{helo: m.helo, auth: m.auth, authTLS: m.authTLS}
			tp.PrintfLine("250 2.0.0 queued")
		case "RSET", "NOOP":
			tp.PrintfLine("250 2.0.0 ok")
		case "QUIT":
			tp.PrintfLine("221 2.0.0 bye")
			return
		default:
			tp.PrintfLine("502 5.5.2 unknown command")
		}
	}
}

// between returns the text of s between the first open and the next close.
func between(s, open, close string) string {
	_, rest, _ := strings.Cut(s, open)
	v, _, _ := strings.Cut(rest, close)
	return v
}

// selfSigned returns a server certificate for 127.0.0.1 and a pool that
// trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "fake smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

func newSMTP(t *testing.T, cfg alert.SMTPConfig) alert.Notifier {
	t.Helper()
	n, err := alert.NewSMTP(cfg)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	if n.Name() != "email" {
		t.Errorf("Name() = %q, want email", n.Name())
	}
	return n
}

// parsed reads an accepted message's headers and decoded body.
func parsed(t *testing.T, data string) (mail.Header, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		t.Fatalf("the message does not parse: %v\n%s", err, data)
	}
	if got := msg.Header.Get("Content-Transfer-Encoding"); got != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding = %q", got)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return msg.Header, string(body)
}

func TestSMTPSends(t *testing.T) {
	t.Parallel()
	f := &fakeSMTP{}
	addr := startSMTP(t, f)
	n := newSMTP(t, alert.SMTPConfig{
		Addr:      addr,
		From:      "Tenancy <alerts@example.com>",
		To:        []string{"ops@example.com", "Jane Doe <jane@example.org>"},
		LocalName: "node1.example.com",
	})
	if err := n.Notify(t.Context(), testEvent); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := f.received()
	if len(got) != 1 {
		t.Fatalf("server accepted %d messages, want 1", len(got))
	}
	m := got[0]
	if m.helo != "node1.example.com" || m.from != "alerts@example.com" || m.auth != "" || m.tls {
		t.Errorf("EHLO %q, MAIL FROM %q, auth %q, tls %v; want node1.example.com, alerts@example.com, no auth, no tls",
			m.helo, m.from, m.auth, m.tls)
	}
	if strings.Join(m.to, ",") != "ops@example.com,jane@example.org" {
		t.Errorf("RCPT TO %q", m.to)
	}
	h, body := parsed(t, m.data)
	for k, want := range map[string]string{
		"From":         `"Tenancy" <alerts@example.com>`,
		"To":           `<ops@example.com>, "Jane Doe" <jane@example.org>`,
		"Subject":      "tenancy alert: " + testEvent.Message,
		"Date":         "Sun, 01 Mar 2026 12:00:00 +0000",
		"MIME-Version": "1.0",
		"Content-Type": "text/plain; charset=utf-8",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	if id := h.Get("Message-ID"); !strings.HasPrefix(id, "<alert.") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID: %q", id)
	}
	// The server's DATA reader turned the CRLF line ends into LF.
	wantBody := testEvent.Message + "\n\nrule: p95_latency\nvalue: 412\nthreshold: 200\n" +
		"resolved: false\nat: 2026-03-01T12:00:00Z\nevent: 7\n"
	if body != wantBody {
		t.Errorf("body\n%q\nwant\n%q", body, wantBody)
	}
}

func TestSMTPAuthOnLocalhost(t *testing.T) {
	t.Parallel()
	f := &fakeSMTP{}
	n := newSMTP(t, alert.SMTPConfig{
		Addr: startSMTP(t, f), Username: "user", Password: "pa ss",
		From: "alerts@example.com", To: []string{"ops@example.com"},
	})
	if err := n.Notify(t.Context(), testEvent); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got := f.received(); len(got) != 1 || got[0].auth != "\x00user\x00pa ss" {
		t.Errorf("received %+v, want one message after AUTH PLAIN user/pa ss", got)
	}
}

func TestSMTPStartTLS(t *testing.T) {
	t.Parallel()
	cert, roots := selfSigned(t)
	f := &fakeSMTP{tls: &tls.Config{Certificates: []tls.Certificate{cert}}}
	addr := startSMTP(t, f)
	cfg := alert.SMTPConfig{
		Addr: addr, Username: "user", Password: "secret",
		From: "alerts@example.com", To: []string{"ops@example.com"},
	}

	// Without trusting the certificate, STARTTLS fails and nothing is sent.
	err := newSMTP(t, cfg).Notify(t.Context(), testEvent)
	if err == nil || !strings.Contains(err.Error(), "starttls") {
		t.Errorf("Notify with an untrusted certificate: err = %v, want a starttls error", err)
	}
	if got := f.received(); len(got) != 0 {
		t.Fatalf("server accepted %+v over an untrusted connection", got)
	}

	cfg.TLSConfig = &tls.Config{RootCAs: roots}
	if err := newSMTP(t, cfg).Notify(t.Context(), testEvent); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := f.received()
	if len(got) != 1 || !got[0].tls || !got[0].authTLS || got[0].auth != "\x00user\x00secret" {
		t.Errorf("received %+v, want one message, authenticated and sent over TLS", got)
	}
	if cfg.TLSConfig.ServerName != "" {
		t.Errorf("Notify changed the caller's TLSConfig: ServerName %q", cfg.TLSConfig.ServerName)
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Parallel()
	base := alert.SMTPConfig{From: "alerts@example.com", To: []string{"ops@example.com", "gone@example.com"}}
	tests := []struct {
		name    string
		f       *fakeSMTP
		user    string
		timeout time.Duration
		wantErr string
	}{
		{"recipient rejected", &fakeSMTP{rejectRcpt: "gone@example.com"}, "", 0,
			`email: recipient gone@example.com: 550 "5.1.1 no such user"`},
		{"no AUTH offered", &fakeSMTP{noAuth: true}, "user", 0,
			"email: the server does not offer AUTH"},
		{"silent server", &fakeSMTP{silent: true}, "", 200 * time.Millisecond,
			"email: " + context.DeadlineExceeded.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := base
			cfg.Addr, cfg.Username = startSMTP(t, tt.f), tt.user
			ctx := t.Context()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := newSMTP(t, cfg).Notify(ctx, testEvent)
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("Notify: err = %v, want %q", err, tt.wantErr)
			}
			if got := tt.f.received(); len(got) != 0 {
				t.Errorf("server accepted %+v", got)
			}
		})
	}
}

func TestSMTPSubjectIsOneEncodedLine(t *testing.T) {
	t.Parallel()
	f := &fakeSMTP{}
	n := newSMTP(t, alert.SMTPConfig{Addr: startSMTP(t, f), From: "a@example.com", To: []string{"b@example.com"}})
	ev := testEvent
	ev.Message = "tenant Müller\r\nBcc: victim@example.com (x) database is 1.2 GB, above 1.0 GB"
	if err := n.Notify(t.Context(), ev); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	got := f.received()
	if len(got) != 1 {
		t.Fatalf("received %d messages", len(got))
	}
	h, _ := parsed(t, got[0].data)
	if h.Get("Bcc") != "" {
		t.Fatalf("a message broke into the headers: %q", got[0].data)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(h.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	want := "tenancy alert: tenant Müller  Bcc: victim@example.com (x) database is 1.2 GB, above 1.0 GB"
	if subject != want {
		t.Errorf("Subject decodes to %q, want %q", subject, want)
	}
}

func TestNewSMTPValidates(t *testing.T) {
	t.Parallel()
	good := alert.SMTPConfig{Addr: "smtp.example.com:587", From: "a@example.com", To: []string{"b@example.com"}}
	tests := []struct {
		name   string
		change func(*alert.SMTPConfig)
		want   string // the field named; "" when valid
	}{
		{"valid", func(*alert.SMTPConfig) {}, ""},
		{"valid with auth", func(c *alert.SMTPConfig) { c.Username, c.Password = "u", "p" }, ""},
		{"no port", func(c *alert.SMTPConfig) { c.Addr = "smtp.example.com" }, "SMTPConfig.Addr"},
		{"no host", func(c *alert.SMTPConfig) { c.Addr = ":587" }, "SMTPConfig.Addr"},
		{"empty addr", func(c *alert.SMTPConfig) { c.Addr = "" }, "SMTPConfig.Addr"},
		{"bad from", func(c *alert.SMTPConfig) { c.From = "not an address" }, "SMTPConfig.From"},
		{"empty from", func(c *alert.SMTPConfig) { c.From = "" }, "SMTPConfig.From"},
		{"no recipients", func(c *alert.SMTPConfig) { c.To = nil }, "SMTPConfig.To"},
		{"bad recipient", func(c *alert.SMTPConfig) { c.To = []string{"b@example.com", "nope"} }, "SMTPConfig.To[1]"},
		{"password without user", func(c *alert.SMTPConfig) { c.Password = "hunter2" }, "SMTPConfig.Password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := good
			tt.change(&cfg)
			_, err := alert.NewSMTP(cfg)
			if tt.want == "" {
				if err != nil {
					t.Errorf("NewSMTP: %v", err)
				}
				return
			}
			var ce *alert.ConfigError
			if !errors.As(err, &ce) || ce.Name != tt.want {
				t.Errorf("NewSMTP: err = %v, want a *ConfigError naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("NewSMTP: err = %q repeats the password", err)
			}
		})
	}
}

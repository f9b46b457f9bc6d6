package alert

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"os"
	"strings"
	"time"
)

// SMTPConfig configures the email Notifier.
type SMTPConfig struct {
	// Addr is the SMTP server, "host:port" (587 for submission with
	// STARTTLS, 25 for a relay). Implicit TLS (port 465) is not supported.
	Addr string
	// Username and Password authenticate with AUTH PLAIN; no
	// authentication when Username is empty. PLAIN is only used over TLS
	// (STARTTLS) or to a server on localhost.
	Username string
	Password string
	// From is the sender's address ("Tenancy <alerts@example.com>" or
	// "alerts@example.com").
	From string
	// To are the recipients' addresses.
	To []string
	// TLSConfig configures STARTTLS, used whenever the server offers it;
	// when nil, the system's roots verify the server's certificate for the
	// host of Addr.
	TLSConfig *tls.Config
	// LocalName is the name sent in EHLO; the host name when empty.
	LocalName string
}

// Compile-time check that the email channel is a Notifier.
var _ Notifier = (*smtpNotifier)(nil)

// smtpNotifier sends email through an SMTP server.
type smtpNotifier struct {
	addr, host         string
	username, password string
	from               *mail.Address
	to                 []*mail.Address
	tls                *tls.Config
	localName          string
}

// NewSMTP returns a Notifier named "email" that mails each event's message
// (the subject) with its details (the body) to cfg.To through net/smtp:
// STARTTLS when the server offers it, then AUTH PLAIN when cfg.Username is
// set. The addresses are checked with net/mail; errors are *ConfigError
// (several joined).
func NewSMTP(cfg SMTPConfig) (Notifier, error) {
	var errs []error
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		errs = append(errs, &ConfigError{Name: "SMTPConfig.Addr", Value: cfg.Addr, Reason: "is not host:port"})
	}
	if cfg.Password != "" && cfg.Username == "" {
		errs = append(errs, &ConfigError{Name: "SMTPConfig.Password", Secret: true, Reason: "is set without a Username"})
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil {
		errs = append(errs, &ConfigError{Name: "SMTPConfig.From", Value: cfg.From, Reason: "is not an email address"})
	}
	if len(cfg.To) == 0 {
		errs = append(errs, &ConfigError{Name: "SMTPConfig.To", Reason: "is empty"})
	}
	to := make([]*mail.Address, 0, len(cfg.To))
	for i, s := range cfg.To {
		a, err := mail.ParseAddress(s)
		if err != nil {
			errs = append(errs, &ConfigError{Name: fmt.Sprintf("SMTPConfig.To[%d]", i), Value: s, Reason: "is not an email address"})
			continue
		}
		to = append(to, a)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	localName := cfg.LocalName
	if localName == "" {
		localName, err = os.Hostname()
		if err != nil || localName == "" {
			localName = "localhost"
		}
	}
	return &smtpNotifier{
		addr:      cfg.Addr,
		host:      host,
		username:  cfg.Username,
		password:  cfg.Password,
		from:      from,
		to:        to,
		tls:       cfg.TLSConfig,
		localName: localName,
	}, nil
}

// Name returns "email".
func (s *smtpNotifier) Name() string { return "email" }

// Notify mails e. The whole conversation ends with ctx.
func (s *smtpNotifier) Notify(ctx context.Context, e Event) error {
	if err := s.send(ctx, e); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("email: %w", ctx.Err())
		}
		return fmt.Errorf("email: %w", err)
	}
	return nil
}

func (s *smtpNotifier) send(ctx context.Context, e Event) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return err
	}
	// Ending ctx closes the connection, which ends whatever step is
	// waiting; Notify then reports ctx's error.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.Hello(s.localName); err != nil {
		return err
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := &tls.Config{}
		if s.tls != nil {
			cfg = s.tls.Clone()
		}
		if cfg.ServerName == "" {
			cfg.ServerName = s.host
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if s.username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not offer AUTH")
		}
		if err := c.Auth(smtp.PlainAuth("", s.username, s.password, s.host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	for _, a := range s.to {
		if err := c.Rcpt(a.Address); err != nil {
			return fmt.Errorf("recipient %s: %w", a.Address, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(s.message(e)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// maxSubject bounds the subject line, in runes.
const maxSubject = 150

// message writes e as a text/plain email: its message is the subject and
// the start of the body, followed by its details.
func (s *smtpNotifier) message(e Event) []byte {
	subject := []rune(sanitize("tenancy alert: " + e.Message))
	if len(subject) > maxSubject {
		subject = append(subject[:maxSubject-1], '…')
	}
	to := make([]string, len(s.to))
	for i, a := range s.to {
		to[i] = a.String()
	}
	var b bytes.Buffer
	header := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	header("From", s.from.String())
	header("To", strings.Join(to, ", "))
	header("Subject", mime.QEncoding.Encode("utf-8", string(subject)))
	header("Date", e.At.Format(time.RFC1123Z))
	header("Message-ID", "<"+messageID()+"@"+domainOf(s.from.Address)+">")
	header("MIME-Version", "1.0")
	header("Content-Type", "text/plain; charset=utf-8")
	header("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")

	var body strings.Builder
	fmt.Fprintf(&body, "%s\n\n", e.Message)
	fmt.Fprintf(&body, "rule: %s\n", e.Rule)
	if e.Subject != "" {
		fmt.Fprintf(&body, "tenant: %s\n", e.Subject)
	}
	fmt.Fprintf(&body, "value: %g\nthreshold: %g\n", e.Value, e.Threshold)
	fmt.Fprintf(&body, "resolved: %t\nat: %s\nevent: %d\n", e.Resolved, e.At.Format(time.RFC3339), e.ID)
	qp := quotedprintable.NewWriter(&b)
	qp.Write([]byte(body.String())) // writes the line breaks as CRLF
	qp.Close()
	return b.Bytes()
}

// messageID returns a random Message-ID's local part.
func messageID() string {
	var id [12]byte
	rand.Read(id[:])
	return "alert." + hex.EncodeToString(id[:])
}

// domainOf returns an address's domain ("localhost" without one).
func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "localhost"
}

package server

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// An open monitoring dashboard (an endless event stream) must not hold up
// a graceful shutdown.
func TestShutdownEndsEventStreams(t *testing.T) {
	f := newUnstartedFixture(t, 1)
	if _, err := f.cp.CreateAdminUser(context.Background(), adminEmail, adminPassword); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- f.srv.Serve(ctx, ln, 20*time.Second) }()

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.PostForm(base+"/admin/login", url.Values{"email": {adminEmail}, "password": {adminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	var cookie *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "tenancy_admin" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("sign-in answered %d without a session", res.StatusCode)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/admin/monitoring/stream", nil)
	req.AddCookie(cookie)
	stream, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	if stream.StatusCode != http.StatusOK || !strings.HasPrefix(stream.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", stream.StatusCode, stream.Header.Get("Content-Type"))
	}
	line, err := bufio.NewReader(stream.Body).ReadString('\n')
	if err != nil || line == "" {
		t.Fatalf("first stream line %q, %v", line, err)
	}

	stop()
	// Shutdown returns an error if it had to give up waiting for the stream.
	if err := <-served; err != nil {
		t.Fatalf("Serve with an open event stream: %v", err)
	}
}

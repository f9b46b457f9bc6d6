package testenv

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gotenancy/tenancy/internal/testwait"
)

// RedisServer is a redis-server process of the test's own, which the test
// may stop, pause and start again on the same port.
type RedisServer struct {
	t       *testing.T
	bin     string
	dir     string
	port    int
	persist bool
	cmd     *exec.Cmd
}

// StartRedisServer starts a redis-server on a free loopback port, stopped
// when the test ends. It keeps nothing on disk: a restart starts empty.
func StartRedisServer(t *testing.T) *RedisServer {
	t.Helper()
	return startRedisServer(t, false)
}

// StartPersistentRedisServer is StartRedisServer for a server that keeps
// its data across restarts, even when killed: an append-only file synced
// after every write.
func StartPersistentRedisServer(t *testing.T) *RedisServer {
	t.Helper()
	return startRedisServer(t, true)
}

func startRedisServer(t *testing.T, persist bool) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("TENANCY_TEST_REQUIRE_SERVICES") != "" {
			t.Fatalf("redis-server is not installed: %v", err)
		}
		t.Skipf("redis-server is not installed: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &RedisServer{t: t, bin: bin, dir: t.TempDir(), port: port, persist: persist}
	t.Cleanup(s.Stop)
	s.Start()
	return s
}

// URL is the server's redis:// URL.
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Start starts the server (again) and waits until it answers PING.
func (s *RedisServer) Start() {
	s.t.Helper()
	appendOnly := []string{"--appendonly", "no"}
	if s.persist {
		appendOnly = []string{"--appendonly", "yes", "--appendfsync", "always"}
	}
	s.cmd = exec.Command(s.bin, append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log")}, appendOnly...)...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	if !testwait.Poll(20*time.Second, s.answers) {
		log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
		s.t.Fatalf("redis-server on port %d did not answer PING; its log:\n%s", s.port, log)
	}
}

// answers reports whether the server answers PING.
func (s *RedisServer) answers() bool {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}

// Stop kills the server, if it runs, and waits for it to exit.
func (s *RedisServer) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGCONT) // a paused server cannot die
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Pause stops the server process (SIGSTOP): the kernel still accepts
// connections, but nothing answers, as with a hung server.
func (s *RedisServer) Pause() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatal(err)
	}
}

// Resume continues a paused server.
func (s *RedisServer) Resume() {
	s.t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatal(err)
	}
}

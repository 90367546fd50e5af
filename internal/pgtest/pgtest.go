// Package pgtest starts a real PostgreSQL for tests: Debian's server binaries
// (package postgresql), a cluster made by initdb in a fresh temporary
// directory, listening only on 127.0.0.1 on a free port, with its unix
// socket in that directory. Tests get a URL, or a fresh database of their
// own (CreateDB), and may stop, kill (SIGKILL) and restart the server under
// load; the test's cleanup stops it and leaves no process behind.
//
// PostgreSQL refuses to run as root. When the test runs as root (CI does),
// initdb and the server run as the postgres system user, which Debian's
// package creates (and Start creates, with useradd, if it does not exist).
//
// If the binaries are missing the test fails, naming the package to
// install: a test that needs PostgreSQL never skips, or CI would pass
// without ever exercising it.
//
// The cluster trades durability for speed where a test cannot tell: fsync
// and full_page_writes are off, as they guard against a crash of the
// machine, and a kill of the server here is a kill of its processes — the
// operating system still holds everything written. synchronous_commit
// stays on: off, a commit is acknowledged before its log is written at
// all, and a SIGKILL of the server loses it, which tests that kill the
// database under load must be able to tell from a bug.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Package is the Debian package that provides the binaries.
const Package = "postgresql"

// ErrNoBinaries is New's error when initdb and postgres are nowhere to be
// found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found in PATH nor in /usr/lib/postgresql/*/bin: install Debian's " +
	Package + " package (make deps)")

// superuser is the database superuser initdb makes, whatever the OS user.
const superuser = "postgres"

// osUser is the system user the server runs as when the test runs as root.
const osUser = "postgres"

// How long the server may take to accept connections after it started, and
// to exit after it was asked to stop. Generous: a loaded 2-core machine
// running the race detector.
const (
	readyTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

// Server is a running (or stopped) PostgreSQL cluster. Its methods are safe
// for concurrent use.
type Server struct {
	bin  string // directory of initdb and postgres
	dir  string // the temporary directory: data/, the socket, postgres.log
	port int
	cred *syscall.Credential // the postgres user's, when running as root; else nil
	dbs  atomic.Int64        // databases made by CreateDB, for their names

	mu   sync.Mutex
	proc *os.Process   // the postmaster, nil when stopped
	done chan struct{} // closed when proc has exited
}

// Start starts a fresh cluster for t and stops it (and removes its
// directory) in t's cleanup. It fails t if PostgreSQL cannot be started,
// naming the package to install when the binaries are missing.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := New()
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return s
}

// New starts a fresh cluster. The caller must Close it: a package sharing
// one server among its tests starts it with New and closes it from
// TestMain.
func New() (*Server, error) {
	bin, err := findBinaries(os.Getenv("PATH"), "/usr/lib/postgresql/*/bin")
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		if s.cred, err = postgresUser(); err != nil {
			return nil, err
		}
	}
	// Not under t.TempDir(): its parents are readable by the test's user
	// only, and the server may run as another. A short path also keeps the
	// socket's within the 107 bytes a unix socket path may have.
	if s.dir, err = os.MkdirTemp("", "pgtest-"); err != nil {
		return nil, fmt.Errorf("making the cluster's directory: %w", err)
	}
	if err := s.initdb(); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	// A port free now may be taken before the server binds it: try again
	// with another.
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil || attempt == 4 || !strings.Contains(s.logTail(), "could not bind") {
			break
		}
	}
	if err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}
	return s, nil
}

// findBinaries returns the directory holding initdb and postgres: the one
// in path (a PATH value) if any, else the newest version matching glob
// (Debian keeps them out of PATH, in /usr/lib/postgresql/<version>/bin).
func findBinaries(path, glob string) (string, error) {
	for _, d := range filepath.SplitList(path) {
		if d != "" && executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob(glob)
	// Newest version first: 16 before 15, and 15 before 9.6.
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

// versionOf is the major version in a path …/postgresql/<version>/bin, or 0.
func versionOf(dir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
	return v
}

func executable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}

// postgresUser returns the credentials of the postgres system user,
// creating the user if it does not exist (Debian's package creates it; a
// build of the binaries from elsewhere may not have).
func postgresUser() (*syscall.Credential, error) {
	u, err := user.Lookup(osUser)
	if err != nil {
		var unknown user.UnknownUserError
		if !errors.As(err, &unknown) {
			return nil, fmt.Errorf("looking up user %s: %w", osUser, err)
		}
		out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home",
			"--home-dir", "/var/lib/postgresql", "--shell", "/usr/sbin/nologin", osUser).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("PostgreSQL refuses to run as root, and creating user %s to run it failed: %v: %s", osUser, err, out)
		}
		if u, err = user.Lookup(osUser); err != nil {
			return nil, fmt.Errorf("looking up user %s after creating it: %w", osUser, err)
		}
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", osUser, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }
func (s *Server) logFile() string { return filepath.Join(s.dir, "postgres.log") }

// command is a command of the cluster's binaries, run as the server's user
// in its own process group (so Kill reaches every process of the server).
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir // the test's working directory may be unreadable to the server's user
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	return cmd
}

// initdb makes the cluster: trust authentication (it listens on 127.0.0.1
// only and lives as long as a test), UTF-8 as the auth server's databases
// expect.
func (s *Server) initdb() error {
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("giving the cluster's directory to user %s: %w", osUser, err)
		}
	}
	cmd := s.command("initdb", "-D", s.dataDir(), "-U", superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, out)
	}
	return nil
}

// start runs the postmaster and waits until it accepts connections.
func (s *Server) start() error {
	logf, err := os.OpenFile(s.logFile(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("opening the server's log: %w", err)
	}
	defer logf.Close()
	cmd := s.command("postgres", "-D", s.dataDir(), "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories="+s.dir,
		"-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logf, logf
	// If the test binary dies (a panic, a timeout) its cleanups never run:
	// the kernel kills the postmaster then, and its children exit when they
	// notice it gone. Pdeathsig fires when the thread that started the
	// process exits, so that thread is kept for the process's lifetime.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	started := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(done)
	}()
	if err := <-started; err != nil {
		return fmt.Errorf("starting postgres: %w", err)
	}
	s.mu.Lock()
	s.proc, s.done = cmd.Process, done
	s.mu.Unlock()
	if err := s.waitReady(done); err != nil {
		s.Kill()
		return err
	}
	return nil
}

// waitReady waits until the server answers a query, or exited, or
// readyTimeout passed.
func (s *Server) waitReady(done <-chan struct{}) error {
	deadline := time.Now().Add(readyTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := pgx.Connect(ctx, s.URL())
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("postgres exited before accepting connections; its log ends:\n%s", s.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within %v (%v); its log ends:\n%s", readyTimeout, err, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// logTail is the end of the server's log, for error messages.
func (s *Server) logTail() string {
	b, _ := os.ReadFile(s.logFile())
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is the TCP port the server listens on, on 127.0.0.1; it stays the
// same across Restart.
func (s *Server) Port() int { return s.port }

// Dir is the cluster's temporary directory (the data directory, the unix
// socket and the server's log, postgres.log).
func (s *Server) Dir() string { return s.dir }

// URL is the URL of the database postgres as the superuser.
func (s *Server) URL() string { return s.URLFor("postgres") }

// URLFor is the URL of database db as the superuser.
func (s *Server) URLFor(db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, db)
}

// CreateDB creates an empty database of its own and returns its URL: tests
// sharing one server each take one, which is far quicker than a server
// each.
func (s *Server) CreateDB(t testing.TB) string {
	t.Helper()
	url, err := s.NewDB(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return url
}

// NewDB is CreateDB without a test.
func (s *Server) NewDB(ctx context.Context) (string, error) {
	name := fmt.Sprintf("test_%d", s.dbs.Add(1))
	c, err := pgx.Connect(ctx, s.URL())
	if err != nil {
		return "", fmt.Errorf("connecting to create database %s: %w", name, err)
	}
	defer c.Close(ctx)
	// template0 holds nothing a test might have added to template1; the
	// name is ours, made of a counter.
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return s.URLFor(name), nil
}

// Running reports whether the server's postmaster is running.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// Stop shuts the server down as an operator would (a fast shutdown:
// sessions are ended, transactions in flight rolled back), waits until
// every process of it has exited, and returns. Stopping a stopped server
// does nothing.
func (s *Server) Stop() error {
	return s.halt(syscall.SIGINT)
}

// Kill kills every process of the server with SIGKILL, as a crash of the
// database would, and waits until they are gone. Restart then recovers the
// cluster from its write-ahead log.
func (s *Server) Kill() error {
	return s.halt(syscall.SIGKILL)
}

// halt sends sig to the postmaster and waits until every process of the
// server has exited; a server that does not exit within stopTimeout is
// killed. SIGKILL goes to every process of the server: PostgreSQL's
// children each lead a session of their own (setsid), so no process group
// holds them all, and a child outliving its postmaster would keep the
// shared memory attached and refuse the next start.
func (s *Server) halt(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return nil
	}
	_ = s.proc.Signal(sig)
	var err error
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		err = fmt.Errorf("postgres did not stop within %v of %v: killed", stopTimeout, sig)
		_ = s.proc.Kill()
		<-s.done
	}
	if gerr := waitGone(s.dataDir(), sig == syscall.SIGKILL); gerr != nil {
		err = errors.Join(err, gerr)
	}
	s.proc, s.done = nil, nil
	return err
}

// Restart starts a stopped (or killed) server again on the same port and
// data directory; a running one is stopped first.
func (s *Server) Restart() error {
	if err := s.Stop(); err != nil {
		return err
	}
	return s.start()
}

// Close stops the server and removes its directory, and the shared memory
// segment a killed server leaves (a restart would have reused it).
func (s *Server) Close() error {
	err := s.Stop()
	removeShm(filepath.Join(s.dataDir(), "postmaster.pid"))
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("removing the cluster's directory: %w", rerr))
	}
	return err
}

// processesOf lists the processes of the server whose data directory is
// dataDir that have not exited: every process of a PostgreSQL server works
// in its data directory (zombies, exited but not yet reaped by their new
// parent, do not count). /proc shows another user's working directory to
// root only, and the server runs as another user only under root.
func processesOf(dataDir string) []int {
	ents, _ := os.ReadDir("/proc")
	var alive []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd"))
		if err != nil || (cwd != dataDir && cwd != dataDir+" (deleted)") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state …; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(b), ')')
		if f := strings.Fields(string(b[i+1:])); i < 0 || len(f) == 0 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		alive = append(alive, pid)
	}
	return alive
}

// waitGone waits until no process of the server in dataDir is alive,
// killing those left when kill is set, or after stopTimeout.
func waitGone(dataDir string, kill bool) error {
	deadline := time.Now().Add(stopTimeout)
	for {
		alive := processesOf(dataDir)
		if len(alive) == 0 {
			return nil
		}
		late := time.Now().After(deadline)
		if kill || late {
			for _, p := range alive {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if late {
			return fmt.Errorf("processes %v of the server still alive %v after it stopped: killed", alive, stopTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeShm removes the System V shared memory segment named in the
// postmaster.pid file a killed server left behind, if any: its seventh
// line is the segment's key and ID.
func removeShm(pidFile string) {
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 7 {
		return
	}
	f := strings.Fields(lines[6])
	if len(f) != 2 {
		return
	}
	if id, err := strconv.Atoi(f[1]); err == nil {
		const ipcRMID = 0
		_, _, _ = syscall.Syscall(syscall.SYS_SHMCTL, uintptr(id), ipcRMID, 0)
	}
}

// PID is the postmaster's process ID (which is also its process group's),
// or 0 when the server is stopped.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.Pid
}

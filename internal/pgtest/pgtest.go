// Package pgtest gives tests a PostgreSQL database of their own.
//
// The server is the one named by CORR2D_TEST_DATABASE_URL when that is set
// (its role needs CREATEDB). Otherwise the package starts a private,
// throwaway server from the PostgreSQL binaries installed on the machine
// (Debian's /usr/lib/postgresql/<version>/bin, or PG_BINDIR) in a temporary
// directory, as an unprivileged user when the tests run as root, and stops
// it when the test binary exits. Each call of New creates a fresh database
// and drops it when the test ends.
//
// Where no server can be had, tests skip with the reason, except under
// CI=true, where they fail.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EnvURL names the variable that points the tests at an existing server.
const EnvURL = "CORR2D_TEST_DATABASE_URL"

var (
	once    sync.Once
	shared  *server
	openErr error
	seq     atomic.Int64
)

// server is where test databases are created: an admin URL, and the
// private process when this package started one.
type server struct {
	admin  *url.URL
	proc   *exec.Cmd
	exited chan struct{} // closed once proc has exited
	dir    string
}

// New returns the URL of a new, empty database that is dropped when t
// ends. It skips t (fails it under CI=true) when no server can be had.
func New(t testing.TB) string {
	t.Helper()
	once.Do(func() { shared, openErr = start() })
	if openErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pgtest: no PostgreSQL server: %v", openErr)
		}
		t.Skipf("pgtest: no PostgreSQL server, skipping (set %s or install PostgreSQL's server binaries): %v", EnvURL, openErr)
	}
	name := fmt.Sprintf("corr2d_test_%d_%d", os.Getpid(), seq.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := admin(ctx, shared.admin, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx, shared.admin, name); err != nil {
			t.Errorf("pgtest: drop database: %v", err)
		}
	})
	u := *shared.admin
	u.Path = "/" + name
	return u.String()
}

// Main runs the tests of a package and then stops the private server, if
// one was started. Call it from TestMain.
func Main(m interface{ Run() int }) int {
	code := m.Run()
	if shared != nil {
		shared.stop()
	}
	return code
}

// drop drops a test database and the sessions still connected to it.
// PostgreSQL 15 refuses FORCE while an autovacuum worker is in the
// database unless the role may signal it (SQLSTATE 42501), as CI's role
// may not; tests that update rows at a high rate draw autovacuum to their
// database just before it is dropped. A plain drop tells the worker to
// exit and waits for it, so after a 42501 the role ends its own sessions
// and drops without FORCE. A plain drop is refused while a session stays
// in the database (55006), and drop tries again until ctx ends.
func drop(ctx context.Context, u *url.URL, name string) error {
	force := true
	for {
		var err error
		if force {
			err = admin(ctx, u, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		} else if err = admin(ctx, u, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '"+name+"' AND usename = current_user"); err == nil {
			err = admin(ctx, u, "DROP DATABASE IF EXISTS "+name)
		}
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || (pgErr.Code != "42501" && pgErr.Code != "55006") {
			return err
		}
		if pgErr.Code == "42501" && force {
			force = false
			continue
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func admin(ctx context.Context, u *url.URL, stmt string) error {
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	_, err = conn.Exec(ctx, stmt)
	return err
}

func start() (*server, error) {
	if v := os.Getenv(EnvURL); v != "" {
		u, err := url.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvURL, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := admin(ctx, u, "SELECT 1"); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvURL, err)
		}
		return &server{admin: u}, nil
	}
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	return startPrivate(bin)
}

// binDir finds initdb and postgres: PG_BINDIR, else the newest Debian
// install, else PATH.
func binDir() (string, error) {
	if d := os.Getenv("PG_BINDIR"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("initdb not found in PG_BINDIR, /usr/lib/postgresql/*/bin or PATH")
}

func version(dir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return v
}

// startPrivate initialises and starts a server in a temporary directory,
// with trust authentication, listening on a Unix socket in that directory
// and on no TCP port: no other process can take its address, as one could
// a free TCP port between its choice and the server's bind.
func startPrivate(bin string) (*server, error) {
	dir, err := os.MkdirTemp("", "corr2d-pgtest-")
	if err != nil {
		return nil, err
	}
	cred, err := runAs(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.CommandContext(context.Background(), filepath.Join(bin, "initdb"), "-D", data, "-U", "corr2d", "--auth=trust",
		"--no-sync", "--encoding=UTF8", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	logFile, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	defer func() { _ = logFile.Close() }()
	// Durability is not wanted in a throwaway server: no fsync makes the
	// tests' many small commits cheap. The port only names the socket
	// file, .s.PGSQL.5432, in dir.
	proc := exec.CommandContext(context.Background(), filepath.Join(bin, "postgres"), "-D", data, "-p", "5432",
		"-c", "listen_addresses=", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB")
	proc.Stdout, proc.Stderr = logFile, logFile
	// The server goes down with the test binary even when that is killed.
	proc.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT}
	if err := proc.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &server{
		admin: &url.URL{Scheme: "postgres", User: url.User("corr2d"), Path: "/postgres",
			RawQuery: url.Values{"host": {dir}, "port": {"5432"}, "sslmode": {"disable"}}.Encode()},
		proc:   proc,
		exited: make(chan struct{}),
		dir:    dir,
	}
	go func() {
		defer close(s.exited)
		_ = proc.Wait()
	}()
	if err := s.waitReady(); err != nil {
		s.stop()
		log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
		return nil, fmt.Errorf("postgres did not accept connections: %w\n%s", err, log)
	}
	return s, nil
}

// waitReady waits until the private server answers a query. A start shows
// no progress to watch: the wait ends when the server exits, and its two
// minutes only turn a hang into an error.
func (s *server) waitReady() error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := admin(ctx, s.admin, "SELECT 1")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.exited:
			return err
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return err
		}
	}
}

func (s *server) stop() {
	if s.proc == nil {
		return
	}
	// SIGINT is PostgreSQL's fast shutdown: it ends sessions and exits.
	_ = s.proc.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.proc.Process.Kill()
		<-s.exited
	}
	_ = os.RemoveAll(s.dir)
}

// runAs returns the credentials to run the server with: none when the
// tests are not root (PostgreSQL refuses to run as root), else the
// "postgres" user, or "nobody", given ownership of dir.
func runAs(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range []string{"postgres", "nobody"} {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root and no unprivileged user to run postgres as: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Username, err)
	}
	if err := os.Chown(dir, int(uid), int(gid)); err != nil {
		return nil, err
	}
	// The temporary directory's parents must let that user through.
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// Package localpg runs a private PostgreSQL server from the machine's
// PostgreSQL binaries, for `deskwoot dev` and for tests.
//
// It finds initdb and pg_ctl, initialises a data folder (kept between runs),
// starts the server on a free loopback port with a private socket folder, and
// creates the owner role and database that migrations run as. PostgreSQL
// refuses to run as root, so when the caller is root the server runs as an
// unprivileged user (postgres, else nobody) that owns the data folder.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure a cluster.
type Options struct {
	// Dir is the data folder's parent (the cluster lives in Dir/data). When the
	// server's user cannot reach it, a folder under the system temp dir is used
	// instead and Cluster.Dir says where.
	Dir string
	// Fast turns off durability (fsync, synchronous_commit) for tests.
	Fast bool
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Cluster is a running private server.
type Cluster struct {
	Dir      string // folder holding data/ and the server log
	Port     int
	OwnerURL string // deskwoot_owner: owns the schema, runs migrations
	AppURL   string // deskwoot_app: the run-time role migrations create

	bin       string
	socketDir string
	opts      string // the server's options, kept for Restart
	cred      *syscall.Credential
	log       io.Writer
}

const (
	ownerRole = "deskwoot_owner"
	appRole   = "deskwoot_app"
	dbName    = "deskwoot"
)

// Start initialises (if needed) and starts the cluster, and makes sure the
// owner role and database exist.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.Log == nil {
		o.Log = io.Discard
	}
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, log: o.Log}
	if os.Geteuid() == 0 {
		cred, err := unprivilegedUser()
		if err != nil {
			return nil, err
		}
		c.cred = cred
	}
	if c.Dir, err = c.pickDir(o.Dir); err != nil {
		return nil, err
	}
	if err := c.initdb(ctx); err != nil {
		return nil, err
	}
	if err := c.start(ctx, o.Fast); err != nil {
		return nil, err
	}
	if err := c.bootstrap(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// FindBinDir locates the folder with initdb, pg_ctl and postgres: PATH first,
// then `pg_config --bindir`, then Debian's /usr/lib/postgresql/N/bin (newest).
func FindBinDir() (string, error) {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		dir := filepath.Dir(p)
		if fileExists(filepath.Join(dir, "initdb")) && fileExists(filepath.Join(dir, "postgres")) {
			return dir, nil
		}
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		dir := strings.TrimSpace(string(out))
		if fileExists(filepath.Join(dir, "pg_ctl")) {
			return dir, nil
		}
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	sort.Slice(matches, func(i, j int) bool { return versionOf(matches[i]) > versionOf(matches[j]) })
	if len(matches) > 0 {
		return filepath.Dir(matches[0]), nil
	}
	return "", errors.New("PostgreSQL binaries not found (looked in PATH, pg_config --bindir, /usr/lib/postgresql/*/bin); install PostgreSQL 15+ (Debian: apt-get install postgresql) or set DATABASE_URL")
}

func versionOf(pgctl string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(pgctl))))
	return n
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// unprivilegedUser is who the server runs as when we are root.
func unprivilegedUser() (*syscall.Credential, error) {
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
	}
	return nil, errors.New("running as root and no unprivileged user (postgres or nobody) exists to run PostgreSQL")
}

// pickDir returns a folder the server's user can reach: want when possible,
// else one under the system temp dir named after want.
func (c *Cluster) pickDir(want string) (string, error) {
	if want == "" {
		d, err := os.MkdirTemp("", "deskwoot-pg-")
		if err != nil {
			return "", err
		}
		return d, c.own(d)
	}
	abs, err := filepath.Abs(want)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", err
	}
	if c.cred == nil || reachable(abs, c.cred.Uid) {
		return abs, c.own(abs)
	}
	alt := filepath.Join(os.TempDir(), "deskwoot-pg-"+strings.NewReplacer("/", "_").Replace(strings.Trim(abs, "/")))
	fmt.Fprintf(c.log, "localpg: %s is not reachable by the PostgreSQL user; using %s\n", abs, alt)
	if err := os.MkdirAll(alt, 0o700); err != nil {
		return "", err
	}
	return alt, c.own(alt)
}

// reachable reports whether every ancestor of dir can be traversed by uid
// (world-executable or owned by uid).
func reachable(dir string, uid uint32) bool {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return false
		}
		sys, _ := st.Sys().(*syscall.Stat_t)
		if st.Mode().Perm()&0o001 == 0 && (sys == nil || sys.Uid != uid) {
			return false
		}
		if p == "/" {
			return true
		}
	}
}

// own gives dir (recursively) to the server's user when we are root.
func (c *Cluster) own(dir string) error {
	if c.cred == nil {
		return nil
	}
	return filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(c.cred.Uid), int(c.cred.Gid))
	})
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = c.Dir
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

func (c *Cluster) initdb(ctx context.Context) error {
	if fileExists(filepath.Join(c.dataDir(), "PG_VERSION")) {
		return nil
	}
	fmt.Fprintf(c.log, "localpg: initialising %s\n", c.dataDir())
	return c.run(ctx, "initdb", "-D", c.dataDir(), "-U", "postgres", "-A", "trust",
		"--no-sync", "-E", "UTF8", "--locale=C")
}

func (c *Cluster) start(ctx context.Context, fast bool) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	c.Port = port
	// A short private socket folder: socket paths are limited to ~100 bytes.
	if c.socketDir, err = os.MkdirTemp("", "dwpg"); err != nil {
		return err
	}
	if err := c.own(c.socketDir); err != nil {
		return err
	}
	opts := []string{
		"-p", strconv.Itoa(port), "-k", c.socketDir,
		"-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200",
		"-c", "shared_buffers=128MB",
	}
	if fast {
		opts = append(opts, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	c.opts = strings.Join(opts, " ")
	return c.launch(ctx)
}

// launch starts the server on the port and socket folder already chosen.
// A stale postmaster.pid from a killed server would stop pg_ctl; the
// server itself checks whether that pid still runs, so leave it to it.
func (c *Cluster) launch(ctx context.Context) error {
	return c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", filepath.Join(c.Dir, "server.log"),
		"-o", c.opts, "-w", "-t", "60", "start")
}

// Halt stops the server but keeps its data, port and socket folder, so
// that Restart brings the same cluster back at the same address (fault
// tests). mode is pg_ctl's: "fast" (clean) or "immediate" (a crash).
func (c *Cluster) Halt(mode string) error {
	return c.run(context.Background(), "pg_ctl", "-D", c.dataDir(), "-m", mode, "-w", "stop")
}

// Restart starts a halted server again at the same address.
func (c *Cluster) Restart(ctx context.Context) error { return c.launch(ctx) }

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (c *Cluster) url(role, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, c.Port, db)
}

// bootstrap creates the non-superuser owner role and its database. The owner
// has CREATEROLE only so that migrate can create deskwoot_app.
func (c *Cluster) bootstrap(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.url("postgres", "postgres"))
	if err != nil {
		return fmt.Errorf("connect to local PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, ownerRole).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE ROLE `+ownerRole+` LOGIN CREATEROLE NOSUPERUSER NOBYPASSRLS`); err != nil {
			return err
		}
	}
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbName).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+dbName+` OWNER `+ownerRole); err != nil {
			return err
		}
	}
	c.OwnerURL = c.url(ownerRole, dbName)
	c.AppURL = c.url(appRole, dbName)
	return nil
}

// SuperuserURL is a connection as the cluster's superuser, for tests that
// need one (for example to prove that serve refuses it).
func (c *Cluster) SuperuserURL() string { return c.url("postgres", dbName) }

// Stop shuts the server down and removes the socket folder. The data folder
// stays (dev keeps its data; tests use a temp dir they remove).
func (c *Cluster) Stop() error {
	err := c.run(context.Background(), "pg_ctl", "-D", c.dataDir(), "-m", "fast", "-w", "stop")
	if c.socketDir != "" {
		os.RemoveAll(c.socketDir)
	}
	return err
}

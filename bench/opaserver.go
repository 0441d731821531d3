package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// opaModule is the module whose main package is the `opa` command.
const opaModule = "github.com/open-policy-agent/opa"

// The decision baseline is OPA's own server, run as its own process and
// never linked into deskwoot: OPA's runtime brings its plugins, bundle
// downloader, OpenTelemetry exporters and gRPC, about a quarter of the
// binary's build time, for one row of a benchmark.

// opaExecutable finds the `opa` to run: the one given, else opaAtHand,
// else the OPA release this binary's policy engine comes from, installed
// once with `go install` into the user cache.
func opaExecutable(ctx context.Context, given string, log io.Writer) (string, error) {
	if given != "" {
		return exec.LookPath(given)
	}
	version := opaVersion()
	if p, ok := opaAtHand(version); ok {
		return p, nil
	}
	dir := opaInstallDir(version)
	if dir == "" {
		return "", errors.New("no opa on PATH, and this build's OPA version or the user cache dir is unknown; pass --opa PATH")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", errors.New("no opa on PATH and no go to install it with; pass --opa PATH")
	}
	fmt.Fprintf(log, "installing OPA %s into %s for the server baseline (once; a few minutes)\n", version, dir)
	cmd := exec.CommandContext(ctx, goBin, "install", opaModule+"@"+version)
	cmd.Dir = os.TempDir() // outside any module: OPA's release, with its own go.mod
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v: %s", opaModule, version, err, strings.TrimSpace(string(out)))
	}
	return filepath.Join(dir, "opa"), nil
}

// opaAtHand is an opa executable that needs no installing: `opa` on PATH,
// or OPA version as an earlier run installed it.
func opaAtHand(version string) (string, bool) {
	if p, err := exec.LookPath("opa"); err == nil {
		return p, true
	}
	if dir := opaInstallDir(version); dir != "" {
		bin := filepath.Join(dir, "opa")
		if _, err := os.Stat(bin); err == nil {
			return bin, true
		}
	}
	return "", false
}

// opaInstallDir is where OPA version is installed, one folder per version
// under the user cache ("" when either is unknown).
func opaInstallDir(version string) string {
	cache, err := os.UserCacheDir()
	if version == "" || err != nil {
		return ""
	}
	return filepath.Join(cache, "deskwoot", "opa-"+version)
}

// opaVersion is the version of OPA this binary was built with, from its
// build information ("" when it has none, as in test binaries).
func opaVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	for _, d := range bi.Deps {
		if d.Path == opaModule {
			if d.Replace != nil {
				return ""
			}
			return d.Version
		}
	}
	return ""
}

// startOPA runs `opa run --server` on the policies in dir, on a free
// loopback port, and waits until it is healthy.
func startOPA(ctx context.Context, bin, dir, logPath string) (*serverProc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--server", "--addr", addr, "--log-level", "error",
		"--skip-version-check", "--shutdown-grace-period", "1", dir)
	return startProc(ctx, "opa run --server", cmd, "http://"+addr, "/health", logPath)
}

package main

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"

	pb "mfn/proto"
)

// TestDockerImage builds the real Dockerfile and runs the image as the README says: it
// refuses to start without a key, starts with a mounted config and a key, turns healthy
// through its own HEALTHCHECK, answers REST and gRPC on the one port, and drains and exits
// 0 on `docker stop`. It needs a Docker engine (.ci/run starts one); no registry is needed:
// the build stage is an image made from this machine's Go toolchain, and modules are
// vendored into a copy of the build context.
func TestDockerImage(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the container image")
	}
	// A cold build compiles every dependency: about 2 min on two busy cores.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if out, err := docker(ctx, "version", "--format", "{{.Server.Version}}"); err != nil {
		t.Skipf("no Docker engine: %v (%s); as root, .ci/run installs docker.io and starts "+
			"`dockerd --iptables=false --bridge=none`", err, strings.TrimSpace(out))
	}

	buildImage := ensureBuildImage(ctx, t)
	buildCtx := vendoredContext(ctx, t)
	tag := fmt.Sprintf("mfn-test:%d", time.Now().UnixNano())
	const ver, rev, src = "9.8.7-test", "0123456789abcdef", "https://example.invalid/mfn"
	start := time.Now()
	out, err := docker(ctx, "build", "-q", "-t", tag,
		"--build-arg", "BUILD_IMAGE="+buildImage, "--build-arg", "VERSION="+ver,
		"--build-arg", "REVISION="+rev, "--build-arg", "SOURCE="+src, buildCtx)
	require.NoError(t, err, "docker build: %s", out)
	t.Logf("docker build: %s", time.Since(start).Round(time.Second))
	t.Cleanup(func() {
		_, _ = docker(context.Background(), "rmi", "-f", tag)
		// The legacy builder keeps the build stage (~480 MB) as a dangling image.
		_, _ = docker(context.Background(), "image", "prune", "-f", "--filter", "label=mfn.stage=build")
	})

	t.Run("image metadata", func(t *testing.T) {
		out, err := docker(ctx, "image", "inspect", tag)
		require.NoError(t, err, out)
		var img []struct {
			Config struct {
				User   string
				Env    []string
				Labels map[string]string
			}
		}
		require.NoError(t, json.Unmarshal([]byte(out), &img))
		c := img[0].Config
		require.Equal(t, "65532:65532", c.User, "non-root")
		require.Contains(t, c.Env, "MFN_ENV=prod", "secure by default")
		require.Equal(t, ver, c.Labels["org.opencontainers.image.version"])
		require.Equal(t, rev, c.Labels["org.opencontainers.image.revision"])
		require.Equal(t, src, c.Labels["org.opencontainers.image.source"])
		out, err = docker(ctx, "run", "--rm", tag, "version")
		require.NoError(t, err, out)
		require.Contains(t, out, "version="+ver+"\n")
		require.Contains(t, out, "revision="+rev+"\n")
	})

	t.Run("refuses to start without a key", func(t *testing.T) {
		out, err := docker(ctx, "run", "--rm", "--network", "host", tag)
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee, out)
		require.Equal(t, 2, ee.ExitCode(), out)
		require.Contains(t, out, "MFN_API_KEY", "the message says how to pass keys")
	})

	t.Run("serves, turns healthy, drains on stop", func(t *testing.T) {
		addr := freePort(t)
		dir := t.TempDir()
		cfg := filepath.Join(dir, "mfn.yaml")
		require.NoError(t, os.WriteFile(cfg, []byte("server:\n  addr: "+addr+"\n  shutdown_grace: 5s\n"), 0o644))
		require.NoError(t, os.Chmod(dir, 0o755))
		const key = "docker-test-key"
		name := strings.ReplaceAll(strings.TrimPrefix(tag, "mfn-test:"), ":", "-")
		name = "mfn-test-" + name
		// The image's HEALTHCHECK command, probed every second instead of every 30 s.
		out, err := docker(ctx, "run", "-d", "--name", name, "--network", "host",
			"-v", cfg+":/etc/mfn/mfn.yaml:ro", "-e", "MFN_API_KEYS="+key,
			"--health-interval", "1s", "--health-start-period", "1s", tag)
		require.NoError(t, err, out)
		t.Cleanup(func() { _, _ = docker(context.Background(), "rm", "-f", name) })

		require.Eventually(t, func() bool {
			s, _ := docker(ctx, "inspect", "-f", "{{.State.Health.Status}}", name)
			return strings.TrimSpace(s) == "healthy"
		}, 60*time.Second, 250*time.Millisecond, "container never healthy: %s", logsOf(name))

		base := "http://" + addr
		res, err := http.Get(base + "/health")
		require.NoError(t, err)
		var health map[string]any
		require.NoError(t, json.NewDecoder(res.Body).Decode(&health))
		res.Body.Close()
		require.Equal(t, "4.1.0", health["version"], "the contract's API version")
		require.Equal(t, ver, health["build_version"])

		post := func(key string) int {
			req, _ := http.NewRequest(http.MethodPost, base+"/nernst", strings.NewReader(`{"concentration_out_molar":0.005,"concentration_in_molar":0.14}`))
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("X-API-Key", key)
			}
			res, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			res.Body.Close()
			return res.StatusCode
		}
		require.Equal(t, http.StatusUnauthorized, post(""), "prod requires a key")
		require.Equal(t, http.StatusOK, post(key))

		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		require.NoError(t, err)
		defer conn.Close()
		hres, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		require.NoError(t, err)
		require.Equal(t, healthpb.HealthCheckResponse_SERVING, hres.Status)
		nres, err := pb.NewMyceliumServiceClient(conn).ComputeNernst(
			metadata.AppendToOutgoingContext(ctx, "x-api-key", key),
			&pb.NernstRequest{ConcentrationOutMolar: proto.Float64(0.005), ConcentrationInMolar: proto.Float64(0.14)})
		require.NoError(t, err)
		require.Less(t, nres.GetPotentialMV(), -80.0)

		// docker kill -s HUP reloads the mounted config (README: reload without restart).
		out, err = docker(ctx, "kill", "-s", "HUP", name)
		require.NoError(t, err, out)
		require.Eventually(t, func() bool {
			return strings.Contains(logsOf(name), `"trigger":"signal"`)
		}, 10*time.Second, 50*time.Millisecond, "no reload on SIGHUP: %s", logsOf(name))

		out, err = docker(ctx, "stop", "-t", "30", name)
		require.NoError(t, err, out)
		code, err := docker(ctx, "inspect", "-f", "{{.State.ExitCode}}", name)
		require.NoError(t, err, code)
		logs := logsOf(name)
		require.Equal(t, "0", strings.TrimSpace(code), "exit code after docker stop: %s", logs)
		require.Contains(t, logs, `"message":"stopped"`, "drained to the end")
	})
}

// docker runs the docker CLI and returns its combined output.
func docker(ctx context.Context, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	return string(out), err
}

func logsOf(name string) string {
	out, _ := docker(context.Background(), "logs", name)
	return out
}

// ensureBuildImage returns the image for the Dockerfile's build stage: golang:1.26-bookworm
// when the engine already has it, else an image imported from this machine's GOROOT plus
// the few files a build needs (a POSIX sh and its libc, the CA bundle). No registry is
// reachable in CI, so this is what keeps the real Dockerfile buildable here.
func ensureBuildImage(ctx context.Context, t *testing.T) string {
	t.Helper()
	if _, err := docker(ctx, "image", "inspect", "golang:1.26-bookworm"); err == nil {
		return "golang:1.26-bookworm"
	}
	tag := "mfn-gobuild:" + strings.TrimPrefix(runtime.Version(), "go")
	if _, err := docker(ctx, "image", "inspect", tag); err == nil {
		return tag
	}
	// The toolchain running this test is the one `go env` names (runtime.GOROOT is the
	// build machine's and deprecated).
	env, err := exec.CommandContext(ctx, "go", "env", "GOROOT").Output()
	goroot := strings.TrimSpace(string(env))
	if err != nil || goroot == "" {
		t.Skip("no GOROOT to make a build image from")
	}
	sh, err := exec.LookPath("sh")
	require.NoError(t, err)
	files := map[string]string{ // path in the image -> path here
		"/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
		"/bin/sh":                            sh,
	}
	// The shell's shared libraries, as the dynamic loader resolves them here.
	ldd, err := exec.CommandContext(ctx, "ldd", sh).Output()
	require.NoError(t, err)
	for _, line := range strings.Split(string(ldd), "\n") {
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "/") {
				files[f] = f
			}
		}
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootFS(pw, goroot, files)) }()
	cmd := exec.CommandContext(ctx, "docker", "import",
		"--change", "ENV PATH=/usr/local/go/bin:/usr/bin:/bin",
		"--change", "ENV HOME=/root", "--change", "ENV GOPATH=/go", "-", tag)
	cmd.Stdin = pr
	out, err := cmd.CombinedOutput()
	pr.Close()
	require.NoError(t, err, "docker import: %s", out)
	return tag
}

// writeRootFS writes a tar of a minimal root file system: GOROOT at /usr/local/go
// (without its own tests, docs and commands' sources), the given files (links followed),
// and writable /tmp and /root.
func writeRootFS(w io.Writer, goroot string, files map[string]string) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	mkdirs := func(p string, mode int64) error {
		var parts []string
		for d := filepath.Dir(p); d != "/" && d != "."; d = filepath.Dir(d) {
			parts = append([]string{d}, parts...)
		}
		for _, d := range parts {
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: mode}); err != nil {
					return err
				}
			}
		}
		return nil
	}
	addFile := func(dst, src string, info fs.FileInfo) error {
		if err := mkdirs(dst, 0o755); err != nil {
			return err
		}
		f, err := os.Open(src)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(dst, "/"),
			Mode: int64(info.Mode().Perm()), Size: info.Size()}); err != nil {
			return err
		}
		_, err = io.Copy(tw, f)
		return err
	}
	for _, d := range []string{"/tmp", "/root", "/go"} {
		dirs[d] = true
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d[1:] + "/", Mode: 0o1777}); err != nil {
			return err
		}
	}
	for dst, src := range files {
		info, err := os.Stat(src) // follows links: the image gets the files themselves
		if err != nil {
			return err
		}
		if err := addFile(dst, src, info); err != nil {
			return err
		}
	}
	skip := map[string]bool{"test": true, "doc": true, "api": true, "misc": true, filepath.Join("src", "cmd"): true}
	err := filepath.WalkDir(goroot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(goroot, p)
		if skip[rel] {
			return filepath.SkipDir
		}
		if d.IsDir() || d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return addFile(filepath.Join("/usr/local/go", rel), p, info)
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// vendoredContext copies the repository's files (tracked and untracked, not ignored) to a
// temporary build context and vendors the modules there from the local module cache, so
// that `go build` in the image needs no network.
func vendoredContext(ctx context.Context, t *testing.T) string {
	t.Helper()
	list, err := exec.CommandContext(ctx, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	require.NoError(t, err, "git ls-files")
	dir := t.TempDir()
	for _, name := range strings.Split(strings.TrimRight(string(list), "\x00"), "\x00") {
		b, err := os.ReadFile(name)
		if os.IsNotExist(err) {
			continue // deleted in the work tree
		}
		require.NoError(t, err)
		info, err := os.Stat(name)
		require.NoError(t, err)
		dst := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.WriteFile(dst, b, info.Mode().Perm()))
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "vendor")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go mod vendor: %s", out)
	require.FileExists(t, filepath.Join(dir, "vendor", "modules.txt"))
	return dir
}

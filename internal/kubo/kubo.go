// Package kubo runs an offline IPFS daemon (kubo, the IPFS reference
// implementation) for the Biosphere's interop tests and benchmark: its own
// repository, the test profile, no swarm addresses, and its API and
// gateway on 127.0.0.1 only. Nothing leaves the machine.
package kubo

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Daemon is a running kubo daemon.
type Daemon struct {
	Bin, Repo string
	Gateway   string // http://127.0.0.1:PORT
	cmd       *exec.Cmd
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Run runs an ipfs command against the daemon's repository with stdin.
func (d *Daemon) Run(stdin []byte, args ...string) (string, error) {
	cmd := exec.Command(d.Bin, args...)
	cmd.Env = d.env()
	cmd.Stdin = bytes.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.String(), fmt.Errorf("ipfs %s: %v\n%s", strings.Join(args, " "), err, e.String())
	}
	return o.String(), nil
}

// Start initialises a repository in dir and starts the daemon offline,
// returning once it is ready (or after two minutes with an error).
func Start(bin, dir string) (*Daemon, error) { return StartWith(bin, dir, Options{}) }

// Options adjust the daemon.
type Options struct {
	// Online runs the daemon without --offline. The test profile keeps
	// it off the network anyway: no bootstrap peers, no mDNS, no
	// AutoConf or AutoTLS, no swarm addresses here; its routers are only
	// the Config's (loopback) ones.
	Online bool
	// Config holds more `ipfs config --json KEY VALUE` settings.
	Config map[string]string
}

// env is the environment of every ipfs command: its repository, and no
// telemetry (kubo would otherwise report to a remote server).
func (d *Daemon) env() []string {
	return append(os.Environ(), "IPFS_PATH="+d.Repo, "IPFS_TELEMETRY=off")
}

// StartWith is Start with options.
func StartWith(bin, dir string, o Options) (*Daemon, error) {
	d := &Daemon{Bin: bin, Repo: filepath.Join(dir, "ipfs")}
	api, err := freePort()
	if err != nil {
		return nil, err
	}
	gw, err := freePort()
	if err != nil {
		return nil, err
	}
	for _, args := range [][]string{
		{"init", "--profile", "test"},
		{"config", "Addresses.API", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", api)},
		{"config", "Addresses.Gateway", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", gw)},
		{"config", "--json", "Addresses.Swarm", "[]"},
	} {
		if _, err := d.Run(nil, args...); err != nil {
			return nil, err
		}
	}
	for k, v := range o.Config {
		if _, err := d.Run(nil, "config", "--json", k, v); err != nil {
			return nil, err
		}
	}
	d.Gateway = fmt.Sprintf("http://127.0.0.1:%d", gw)
	args := []string{"daemon", "--offline"}
	if o.Online {
		args = args[:1]
	}
	d.cmd = exec.Command(bin, args...)
	d.cmd.Env = d.env()
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	d.cmd.Stderr = io.Discard
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		ok := false
		for sc.Scan() {
			if !ok && strings.Contains(sc.Text(), "Daemon is ready") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if ok {
			return d, nil
		}
		d.Stop()
		return nil, fmt.Errorf("kubo daemon exited before it was ready")
	case <-time.After(2 * time.Minute):
		d.Stop()
		return nil, fmt.Errorf("kubo daemon not ready after 2 minutes")
	}
}

// Stop kills the daemon this package started and waits for it.
func (d *Daemon) Stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Kill()
		d.cmd.Wait()
	}
}

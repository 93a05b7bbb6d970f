package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// The tap path (-net tap): a namespace of the run's own, a tap device in
// it with the host side's address, and the guest on the other side, at
// the addresses QEMU's user networking uses, so the guests' setup is the
// same on both paths (the Linux guest's /init hard-codes 10.0.2.15/24).
const (
	tapName  = "vnbtap0"
	tapHost  = "10.0.2.2"
	tapGuest = "10.0.2.15"
)

// makeTapNamespace creates the namespace and its tap device and returns
// the namespace's name and what removes both. Removing the namespace
// removes the device with it.
func makeTapNamespace() (string, func(), error) {
	if os.Geteuid() != 0 {
		return "", nil, fmt.Errorf("-net tap makes a network namespace and a tap device: run as root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "", nil, fmt.Errorf("-net tap needs ip (Debian's iproute2): %v", err)
	}
	ns := "velocity-netbench-" + strconv.Itoa(os.Getpid())
	ip := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := ip("netns", "add", ns); err != nil {
		return "", nil, err
	}
	cleanup := func() {
		if err := ip("netns", "del", ns); err != nil {
			fmt.Fprintln(os.Stderr, "netbench:", err)
		}
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"tuntap", "add", "dev", tapName, "mode", "tap"},
		{"addr", "add", tapHost + "/24", "dev", tapName},
		{"link", "set", tapName, "up"},
	} {
		if err := ip(append([]string{"-n", ns}, args...)...); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	return ns, cleanup, nil
}

// command is exec.CommandContext, inside the run's namespace when there
// is one (ip netns exec replaces itself with the command, so the
// process is the command's, for processCPU and Kill).
func (o options) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	if o.netns == "" {
		return exec.CommandContext(ctx, name, args...)
	}
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", o.netns, name}, args...)...)
}

// get fetches url: with Go's client on the host's network, with curl
// inside the namespace.
func (o options) get(c *http.Client, url string) (string, error) {
	if o.netns == "" {
		return httpGet(c, url)
	}
	out, err := o.command(context.Background(), "curl", "-sS", "-f", "--max-time", "120", url).Output()
	if err != nil {
		return string(out), fmt.Errorf("curl %s: %v", url, err)
	}
	return string(out), nil
}

// download fetches url and returns how many bytes came, dropping them.
func (o options) download(c *http.Client, url string) (int64, error) {
	if o.netns == "" {
		resp, err := c.Get(url)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return copyDiscard(resp)
	}
	out, err := o.command(context.Background(), "curl", "-sS", "-f", "--max-time", "600", "-o", "/dev/null",
		"-w", "%{size_download}", url).Output()
	if err != nil {
		return 0, fmt.Errorf("curl %s: %v", url, err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
}

// copyDiscard drops a response's body and counts it; anything but 200 is
// an error.
func copyDiscard(resp *http.Response) (int64, error) {
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%s", resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}

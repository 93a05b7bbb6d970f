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

	"github.com/velocityos/velocity/internal/qemu"
)

// The tap path (-net tap): a namespace of the run's own with a tap
// device in it (qemu.MakeTapNamespace), the guest at the address QEMU's
// user networking gives it, so the guests' setup is the same on both
// paths (the Linux guest's /init hard-codes 10.0.2.15/24).
const (
	tapName  = "vnbtap0"
	tapHost  = qemu.TapHost
	tapGuest = qemu.TapGuest
)

// makeTapNamespace creates a namespace of the run's (its name ends in
// suffix) and its tap device and returns the namespace's name and what
// removes both.
func makeTapNamespace(suffix string) (string, func(), error) {
	ns := "velocity-netbench-" + strconv.Itoa(os.Getpid()) + suffix
	remove, err := qemu.MakeTapNamespace(ns, tapName)
	if err != nil {
		return "", nil, fmt.Errorf("-net tap: %v", err)
	}
	// wrk's new connection per request leaves each local port in
	// TIME_WAIT for 60 s: some 10,000 per run, and the namespace has
	// 28,232 ports. Runs less than a minute apart then ran out, and both
	// guests served a third of their requests/s (330 against 1,000)
	// with the host's connect searching for a free port. Reusing a
	// TIME_WAIT port for a new connection is safe with TCP timestamps,
	// which both guests send.
	if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1").CombinedOutput(); err != nil {
		remove()
		return "", nil, fmt.Errorf("-net tap: tcp_tw_reuse: %v: %s", err, out)
	}
	withdraw := onInterrupt(func() { remove() })
	return ns, func() {
		withdraw()
		if err := remove(); err != nil {
			fmt.Fprintln(os.Stderr, "netbench:", err)
		}
	}, nil
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

// fetch saves what url answers in file, with curl on the host or inside
// the namespace; a body that is not gzip (what a pprof profile is) is an
// error, and leaves the file as it was.
func (o options) fetch(url, file string) error {
	tmp := file + ".tmp"
	defer os.Remove(tmp)
	out, err := o.command(context.Background(), "curl", "-sS", "-f", "--max-time", "900", "-o", tmp, url).CombinedOutput()
	if err != nil {
		return fmt.Errorf("curl %s: %v: %s", url, err, out)
	}
	b, err := os.ReadFile(tmp)
	if err != nil {
		return err
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		return fmt.Errorf("%s: not a profile (%d bytes)", url, len(b))
	}
	return os.Rename(tmp, file)
}

// copyDiscard drops a response's body and counts it; anything but 200 is
// an error.
func copyDiscard(resp *http.Response) (int64, error) {
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("%s", resp.Status)
	}
	return io.Copy(io.Discard, resp.Body)
}

// wire is what crossed the tap during a row, seen from the host: frames
// the guest sent and received, and the host TCP's count of segments that
// arrived a second time (DSACKs it sent for data it already had: the
// guest's spurious retransmissions, such as a tail-loss probe that fired
// before the host's ACK was processed).
type wire struct {
	out, in, dup int64
}

// wireCounters reads them (qemu.ReadTapStats); ok is false without a
// namespace or when a counter is missing.
func (o options) wireCounters() (w wire, ok bool) {
	if o.netns == "" {
		return wire{}, false
	}
	st, err := qemu.ReadTapStats(o.netns, tapName)
	if err != nil {
		return wire{}, false
	}
	old, okOld := st.TCPExt["TCPDSACKOldSent"]
	ofo, okOfo := st.TCPExt["TCPDSACKOfoSent"]
	return wire{out: st.FromGuest, in: st.ToGuest, dup: old + ofo}, okOld && okOfo
}

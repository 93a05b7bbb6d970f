package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// The addresses of a tap namespace: the host side's, and the guest's, the
// same as on user networking, so a guest's setup is the same on both
// back ends.
const (
	TapHost  = "10.0.2.2"
	TapGuest = "10.0.2.15"
)

// TapUsable says why a tap namespace cannot be made here, or nil: it
// needs root, /dev/net/tun and ip (Debian's iproute2).
func TapUsable() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("a network namespace and a tap device need root")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		return fmt.Errorf("no /dev/net/tun: %v", err)
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("needs ip: sudo apt-get install -y iproute2")
	}
	return nil
}

// MakeTapNamespace creates network namespace ns with its loopback up and
// tap device tap at TapHost/24, for a guest on Net{Tap: tap} run with
// Config.NetNS ns. remove deletes the namespace, and the device with it;
// nothing of either is left if MakeTapNamespace fails.
func MakeTapNamespace(ns, tap string) (remove func() error, err error) {
	if err := TapUsable(); err != nil {
		return nil, err
	}
	if !validIfName(tap) {
		return nil, fmt.Errorf("bad tap device name %q", tap)
	}
	ip := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	if err := ip("netns", "add", ns); err != nil {
		return nil, err
	}
	remove = func() error { return ip("netns", "del", ns) }
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"tuntap", "add", "dev", tap, "mode", "tap"},
		{"addr", "add", TapHost + "/24", "dev", tap},
		{"link", "set", tap, "up"},
	} {
		if err := ip(append([]string{"-n", ns}, args...)...); err != nil {
			remove()
			return nil, err
		}
	}
	return remove, nil
}

// TapStats is what a namespace's TCP and its tap device have counted:
// the host's view of a guest on the tap.
type TapStats struct {
	// FromGuest and ToGuest are the frames the tap device received from
	// the guest (its rx_packets) and sent to it (tx_packets).
	FromGuest, ToGuest int64
	// TCPExt is the namespace's TCP extended counters (/proc/net/netstat,
	// TcpExt), by name: TCPOFOQueue counts segments that came ahead of
	// one still missing, TCPDSACKOldSent and TCPDSACKOfoSent segments
	// that came twice.
	TCPExt map[string]int64
}

// ReadTapStats reads tap device tap's packet counters and the TCP
// counters of namespace ns.
func ReadTapStats(ns, tap string) (TapStats, error) {
	if !validIfName(tap) {
		return TapStats{}, fmt.Errorf("bad tap device name %q", tap)
	}
	script := fmt.Sprintf("cat /sys/class/net/%s/statistics/rx_packets /sys/class/net/%s/statistics/tx_packets /proc/net/netstat", tap, tap)
	out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", script).Output()
	if err != nil {
		return TapStats{}, fmt.Errorf("reading the counters of %s in %s: %v", tap, ns, err)
	}
	return parseTapStats(string(out))
}

// parseTapStats reads ReadTapStats's output: rx_packets, tx_packets, then
// /proc/net/netstat, whose lines come in pairs (names, then values).
func parseTapStats(s string) (TapStats, error) {
	lines := strings.Split(s, "\n")
	if len(lines) < 2 {
		return TapStats{}, fmt.Errorf("tap counters: %d lines", len(lines))
	}
	var st TapStats
	var err1, err2 error
	st.FromGuest, err1 = strconv.ParseInt(strings.TrimSpace(lines[0]), 10, 64)
	st.ToGuest, err2 = strconv.ParseInt(strings.TrimSpace(lines[1]), 10, 64)
	if err1 != nil || err2 != nil {
		return TapStats{}, fmt.Errorf("tap packet counters %q, %q", lines[0], lines[1])
	}
	for i := 2; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) < 2 || names[0] != "TcpExt:" || len(values) != len(names) || values[0] != "TcpExt:" {
			continue
		}
		st.TCPExt = make(map[string]int64, len(names)-1)
		for j := 1; j < len(names); j++ {
			v, err := strconv.ParseInt(values[j], 10, 64)
			if err != nil {
				return TapStats{}, fmt.Errorf("TcpExt %s: %q", names[j], values[j])
			}
			st.TCPExt[names[j]] = v
		}
		return st, nil
	}
	return TapStats{}, fmt.Errorf("no TcpExt counters in /proc/net/netstat")
}

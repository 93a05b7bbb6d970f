package qemu

import (
	"fmt"
	"os"
	"os/exec"
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

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// linuxInit makes the Linux guest's network what Velocity's is at boot.
// bench/netbench puts the virtio-net driver's modules in /modules, named
// so that name order is load order (os.ReadDir sorts).
func linuxInit() error {
	ents, err := os.ReadDir("/modules")
	if err != nil {
		return err
	}
	for _, e := range ents {
		m := e.Name()
		f, err := os.Open(filepath.Join("/modules", m))
		if err != nil {
			return err
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && err != unix.EEXIST {
			return fmt.Errorf("finit_module %s: %v", m, err)
		}
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	up := func(name string) error {
		ifr, err := unix.NewIfreq(name)
		if err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
			return err
		}
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
	}
	if err := up("lo"); err != nil {
		return fmt.Errorf("lo: %v", err)
	}
	// The driver probes asynchronously: wait for eth0.
	deadline := time.Now().Add(10 * time.Second)
	for {
		ifr, _ := unix.NewIfreq("eth0")
		if unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr) == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no eth0 after loading virtio_net")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, set := range []struct {
		req  uint
		addr string
	}{{unix.SIOCSIFADDR, "10.0.2.15"}, {unix.SIOCSIFNETMASK, "255.255.255.0"}} {
		ifr, _ := unix.NewIfreq("eth0")
		if err := ifr.SetInet4Addr(net.ParseIP(set.addr).To4()); err != nil {
			return err
		}
		if err := unix.IoctlIfreq(fd, set.req, ifr); err != nil {
			return fmt.Errorf("eth0 %s: %v", set.addr, err)
		}
	}
	if err := up("eth0"); err != nil {
		return fmt.Errorf("eth0: %v", err)
	}
	// Go's net reads it for the listen backlog; without /proc it uses 128.
	os.MkdirAll("/proc", 0o755)
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil && !strings.Contains(err.Error(), "busy") {
		return fmt.Errorf("mount /proc: %v", err)
	}
	return nil
}

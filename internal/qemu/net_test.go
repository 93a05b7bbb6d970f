package qemu

import (
	"strings"
	"testing"
)

func TestNetArgs(t *testing.T) {
	args, err := Net{Forwards: []string{"tcp:8080-:80", "tcp:127.0.0.1:9000-10.0.2.15:90"}}.Args()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(args, " ")
	want := "-netdev user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:8080-:80,hostfwd=tcp:127.0.0.1:9000-10.0.2.15:90 -device virtio-net-pci,netdev=net0"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if args, _ := (Net{}).Args(); args != nil {
		t.Errorf("no network gave %v", args)
	}
	args, _ = Net{Listen: 7000}.Args()
	if !strings.Contains(strings.Join(args, " "), "stream,id=net0,server=on,addr.type=inet,addr.host=127.0.0.1,addr.port=7000") {
		t.Errorf("listen: %v", args)
	}
	if strings.Contains(strings.Join(args, " "), "mac=") {
		t.Errorf("listen: the listening end keeps QEMU's MAC: %v", args)
	}
	args, _ = Net{Connect: 7000}.Args()
	if got := strings.Join(args, " "); !strings.Contains(got, "server=off") || !strings.Contains(got, "virtio-net-pci,netdev=net0,mac="+ConnectMAC) {
		t.Errorf("connect: %s", got)
	}
	args, _ = Net{Tap: "vnb0"}.Args()
	if got := strings.Join(args, " "); got != "-netdev tap,id=net0,ifname=vnb0,script=no,downscript=no,vnet_hdr=on -device virtio-net-pci,netdev=net0" {
		t.Errorf("tap: %s", got)
	}
	for _, bad := range []Net{
		{Tap: "vnb0,script=/bin/sh"},
		{Tap: "a-name-too-long-for-linux"},
		{Tap: "vnb0", User: true},
		{Forwards: []string{"tcp:0.0.0.0:80-:80"}},
		{Forwards: []string{"tcp:10.1.2.3:80-:80"}},
		{Forwards: []string{"sctp:80-:80"}},
		{Forwards: []string{"tcp:80"}},
		{Forwards: []string{"tcp:99999-:80"}},
		{User: true, Listen: 7000},
		{Connect: 70000},
	} {
		if _, err := bad.Args(); err == nil {
			t.Errorf("%+v: no error", bad)
		}
	}
}

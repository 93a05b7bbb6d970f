package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMakeTapNamespace makes a namespace with its tap device, finds the
// device there at TapHost, and finds both gone after remove. It needs
// root (TapUsable) and skips otherwise.
func TestMakeTapNamespace(t *testing.T) {
	if err := TapUsable(); err != nil {
		t.Skip(err)
	}
	ns := fmt.Sprintf("velocity-qemutest-%d", os.Getpid())
	if _, err := MakeTapNamespace(ns, "bad,name"); err == nil {
		t.Fatal("a tap name with a comma was taken")
	}
	remove, err := MakeTapNamespace(ns, "vqtap0")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ip", "-n", ns, "addr", "show", "dev", "vqtap0").CombinedOutput()
	if err != nil || !strings.Contains(string(out), TapHost+"/24") || !strings.Contains(string(out), "UP") {
		remove()
		t.Fatalf("the tap device in %s: %v\n%s", ns, err, out)
	}
	if err := remove(); err != nil {
		t.Fatal(err)
	}
	if out, _ := exec.Command("ip", "netns", "list").CombinedOutput(); strings.Contains(string(out), ns) {
		t.Errorf("namespace %s left behind:\n%s", ns, out)
	}
}

func TestParseTapStats(t *testing.T) {
	netstat := "TcpExt: SyncookiesSent TCPOFOQueue TCPDSACKOldSent\n" +
		"TcpExt: 0 3 7\n" +
		"IpExt: InNoRoutes InOctets\n" +
		"IpExt: 0 100\n"
	st, err := parseTapStats("1200\n3400\n" + netstat)
	if err != nil || st.FromGuest != 1200 || st.ToGuest != 3400 || st.TCPExt["TCPOFOQueue"] != 3 || st.TCPExt["TCPDSACKOldSent"] != 7 {
		t.Errorf("got %+v, %v", st, err)
	}
	for _, bad := range []string{
		"",
		"x\n3400\n" + netstat,
		"1200\n3400\nIpExt: InNoRoutes\nIpExt: 0\n",                    // no TcpExt
		"1200\n3400\nTcpExt: TCPOFOQueue TCPDSACKOldSent\nTcpExt: 7\n", // values cut short
		"1200\n3400\nTcpExt: TCPOFOQueue\nTcpExt: many\n",              // not a number
	} {
		if st, err := parseTapStats(bad); err == nil {
			t.Errorf("parseTapStats(%q) = %+v, accepted", bad, st)
		}
	}
}

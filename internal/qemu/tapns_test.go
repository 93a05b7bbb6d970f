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

package gdb_test

import (
	"bufio"
	"debug/elf"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/velocityos/velocity/internal/qemu"
	"github.com/velocityos/velocity/internal/testenv"
)

// TestNMIOnIdleHalt puts an NMI exactly where STI's shadow does not reach:
// between the idle loop's STI and its HLT (runtime.vkIdle). QEMU's own
// gdbstub stops the one-CPU guest with a breakpoint on that HLT, the
// monitor's "nmi" is sent through the stub, and the guest is let go. The
// NMI is taken on the HLT and its dump prints for milliseconds, while the
// program's next 1 ms timer comes due. Before the kernel moved such a
// context past the HLT (vkIdleNoHalt), the timer's interrupt was then taken
// on the HLT as well, its work recorded for the idle loop, and the HLT
// slept past it with no timer armed: the program never printed again. The
// guest must print its remaining ticks and exit.
func TestNMIOnIdleHalt(t *testing.T) {
	testenv.Need(t, "qemu")
	kernel, err := targetOnce()
	if err != nil {
		t.Fatal(err)
	}
	halt := idleHaltAddr(t, kernel)
	g := boot(t, targetOnce, 1, "", []string{"-tick"}, "gdbtarget: tick 1\n",
		func(c *qemu.Config, port string) { c.QEMUGDB = port })

	// QEMU stops the guest when a debugger connects, and says so.
	rsp := dialRSP(t, g.port)
	defer rsp.conn.Close()
	if stop := rsp.call(t, "?"); !strings.HasPrefix(stop, "T") && !strings.HasPrefix(stop, "S") {
		t.Fatalf("stop reply %q to ?", stop)
	}
	rsp.drain()
	addr := strconv.FormatUint(halt, 16)
	rsp.expect(t, "Z0,"+addr+",1", "OK")
	stop := rsp.call(t, "c") // runs until the CPU next goes idle
	if !strings.HasPrefix(stop, "T05") && !strings.HasPrefix(stop, "S05") {
		t.Fatalf("stop reply %q, want a breakpoint's T05", stop)
	}
	rsp.expect(t, "z0,"+addr+",1", "OK")
	rsp.expect(t, "qRcmd,"+fmt.Sprintf("%x", "nmi"), "OK")
	rsp.expect(t, "D", "OK") // detached: the guest runs, the NMI first

	waitSerial(t, g, "=== end of NMI dump ===", 30*time.Second)
	s := g.serial.String()
	if !regexp.MustCompile(`cpu 0: .* at 0x[0-9a-f]+ runtime\.vkIdle\+0x1\n`).MatchString(s) {
		t.Fatalf("the NMI was not taken on vkIdle's HLT (+0x1):\n%s", s)
	}
	dumped := strings.LastIndex(s, "=== end of NMI dump ===")
	last := regexp.MustCompile(`gdbtarget: tick (\d+)\n`).FindAllStringSubmatch(s[:dumped], -1)
	n, _ := strconv.Atoi(last[len(last)-1][1])
	waitSerial(t, g, fmt.Sprintf("gdbtarget: tick %d\n", n+3), 30*time.Second)
	if code := g.wait(t); code != 0 {
		t.Errorf("guest exit code %d, want 0:\n%s", code, g.serial)
	}
}

// idleHaltAddr is the address of vkIdle's HLT in the kernel ELF: the byte
// after its one-byte STI.
func idleHaltAddr(t *testing.T, kernel string) uint64 {
	t.Helper()
	f, err := elf.Open(kernel)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range syms {
		if s.Name == "runtime.vkIdle" || s.Name == "runtime.vkIdle.abi0" {
			return s.Value + 1
		}
	}
	t.Fatalf("%s has no runtime.vkIdle", kernel)
	return 0
}

// waitSerial waits until the guest's serial console shows want.
func waitSerial(t *testing.T, g *guest, want string, limit time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(limit); !strings.Contains(g.serial.String(), want); {
		select {
		case <-g.done:
			t.Fatalf("guest ended (%v, code %d) before printing %q:\n%s", g.err, g.res.ExitCode, want, g.serial)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q on the serial console after %v:\n%s", want, limit, g.serial)
		}
	}
}

// rspConn is a minimal client of the gdb remote protocol, enough to drive
// QEMU's gdbstub: one packet out, its acknowledgement, one reply in.
type rspConn struct {
	conn net.Conn
	r    *bufio.Reader
}

func dialRSP(t *testing.T, port string) *rspConn {
	t.Helper()
	var conn net.Conn
	var err error
	for end := time.Now().Add(10 * time.Second); ; {
		if conn, err = net.Dial("tcp", "127.0.0.1:"+port); err == nil || time.Now().After(end) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	return &rspConn{conn: conn, r: bufio.NewReader(conn)}
}

// call sends a packet and returns the reply's payload, skipping console
// output packets (O...) that a monitor command sends first.
func (c *rspConn) call(t *testing.T, p string) string {
	t.Helper()
	c.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := c.conn.Write([]byte(packet(p))); err != nil {
		t.Fatal(err)
	}
	for {
		reply, err := c.read()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(reply) > 1 && reply[0] == 'O' && reply != "OK" {
			continue
		}
		return reply
	}
}

func (c *rspConn) expect(t *testing.T, p, want string) {
	t.Helper()
	if got := c.call(t, p); got != want {
		t.Fatalf("%s: reply %q, want %q", p, got, want)
	}
}

// drain reads and drops whatever the stub sends within half a second: the
// stop notice that QEMU may send on connection besides the reply to "?".
func (c *rspConn) drain() {
	for {
		c.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.read(); err != nil {
			c.r.Reset(c.conn)
			return
		}
	}
}

// read returns the next packet's payload, acknowledging it; the '+' acks
// of what was sent are skipped.
func (c *rspConn) read() (string, error) {
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return "", err
		}
		if b != '$' {
			continue // '+' for our packet
		}
		body, err := c.r.ReadString('#')
		if err != nil {
			return "", err
		}
		if _, err := c.r.Discard(2); err != nil { // the checksum
			return "", err
		}
		if _, err := c.conn.Write([]byte("+")); err != nil {
			return "", err
		}
		return strings.TrimSuffix(body, "#"), nil
	}
}

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"

	"github.com/velocityos/velocity/internal/build"
	"github.com/velocityos/velocity/internal/ethswitch"
	"github.com/velocityos/velocity/internal/qemu"
)

// maxCluster bounds -cluster: every node is a QEMU process.
const maxCluster = 8

// clusterNet is the cluster's LAN: node i is 10.0.9.i/24.
const clusterNet = "10.0.9."

// runCluster boots n copies of target on one LAN (internal/ethswitch:
// QEMU stream links to a switch on 127.0.0.1, nothing else). Node i gets
// the kernel options ip=10.0.9.i/24 and peers= naming every other node's
// port 80, and VELOCITY_NODE=i, VELOCITY_CLUSTER=n; its serial
// lines are printed with a "[node i]" prefix. It returns the highest exit
// code of the nodes. Ctrl-C stops them all.
func runCluster(b *bootFlags, target, tmp string, n int, extra []string) int {
	if n < 2 || n > maxCluster {
		fmt.Fprintf(os.Stderr, "velocity run: -cluster %d: want 2 to %d nodes\n", n, maxCluster)
		return exitUsage
	}
	if b.net != "" || len(b.hostfwd) > 0 || b.gdbPort != "" || b.qemuGDB != "" || b.iso || b.uefi {
		fmt.Fprintln(os.Stderr, "velocity run: -cluster gives every node its card on the cluster's LAN; it does not combine with -net, -hostfwd, -gdb-port, -qemu-gdb-port, -iso or -uefi")
		return exitUsage
	}
	for _, e := range b.env {
		if k, _, _ := strings.Cut(e, "="); k == "VELOCITY_NODE" || k == "VELOCITY_CLUSTER" {
			fmt.Fprintf(os.Stderr, "velocity run: -cluster sets %s for each node\n", k)
			return exitUsage
		}
	}
	sw, err := ethswitch.Listen()
	if err != nil {
		return fail("run", err)
	}
	defer sw.Close()
	var configs []qemu.Config
	var out sync.Mutex
	for i := 1; i <= n; i++ {
		nb := *b
		nb.env = append(append(stringList{}, b.env...),
			fmt.Sprintf("VELOCITY_NODE=%d", i), fmt.Sprintf("VELOCITY_CLUSTER=%d", n))
		cmdline, err := clusterCmdline(&nb, i, n)
		if err != nil {
			return fail("run", err)
		}
		c, err := nb.config(target, tmp, cmdline)
		if err != nil {
			return fail("run", err)
		}
		if nb.serialLog != "" {
			c.SerialLog = fmt.Sprintf("%s.%d", nb.serialLog, i)
		}
		c.Stdout = &prefixWriter{prefix: fmt.Sprintf("[node %d] ", i), out: os.Stdout, mu: &out}
		c.Extra = append(sw.NetArgs(byte(i)), extra...)
		configs = append(configs, c)
	}
	fmt.Printf("velocity run: %d nodes on LAN %s0/24 (switch on 127.0.0.1:%d); Ctrl-C stops them\n", n, clusterNet, sw.Port())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	defer cancel()
	codes := make([]int, n)
	var wg sync.WaitGroup
	for i, c := range configs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := qemu.Run(ctx, c)
			switch {
			case errors.Is(err, context.Canceled):
				codes[i] = 130
			case err != nil:
				fmt.Fprintf(os.Stderr, "velocity run: node %d: %v\n", i+1, err)
				codes[i] = 1
			default:
				codes[i] = res.ExitCode
			}
			c.Stdout.(*prefixWriter).Flush()
		}()
	}
	wg.Wait()
	worst := 0
	for i, code := range codes {
		fmt.Printf("velocity run: node %d exited with %d\n", i+1, code)
		worst = max(worst, code)
	}
	return worst
}

// clusterCmdline is node i's command line: -env and the cluster's
// variables, peers= for every other node, then -append.
func clusterCmdline(b *bootFlags, i, n int) (string, error) {
	var peers []string
	for j := 1; j <= n; j++ {
		if j != i {
			peers = append(peers, fmt.Sprintf("%s%d:80", clusterNet, j))
		}
	}
	opts, err := build.SplitCmdline(b.appendLine)
	if err != nil {
		return "", err
	}
	for _, o := range opts {
		if o == "--" {
			break
		}
		for _, k := range []string{"peers=", "ip=", "gw="} {
			if strings.HasPrefix(o, k) {
				return "", fmt.Errorf("-cluster sets %s for each node", k)
			}
		}
	}
	own := []string{fmt.Sprintf("ip=%s%d/24", clusterNet, i), "peers=" + strings.Join(peers, ",")}
	return build.KernelCmdline(b.env, append(own, opts...), nil)
}

// prefixWriter writes whole lines, each with its prefix, under a lock
// shared by the nodes, so their lines interleave but never mix.
type prefixWriter struct {
	prefix string
	out    io.Writer
	mu     *sync.Mutex
	buf    []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		p.emit(bytes.TrimRight(p.buf[:i], "\r"))
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}

// Flush writes a last line without its newline.
func (p *prefixWriter) Flush() {
	if len(p.buf) > 0 {
		p.emit(p.buf)
		p.buf = nil
	}
}

func (p *prefixWriter) emit(line []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.out, "%s%s\n", p.prefix, line)
}

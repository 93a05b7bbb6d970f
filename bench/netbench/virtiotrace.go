package main

// QEMU's count of the card's crossings (-virtio-trace).
//
// Velocity's kernel counts its own notifications to the card and its
// interrupts, but the Linux guest's cannot be read the same way, and a
// comparison needs the same ruler on both. QEMU's trace events are that
// ruler: virtio_queue_notify fires when a driver notifies a queue (an I/O
// write that leaves the translated code and takes QEMU's global lock),
// and virtio_notify when the device model interrupts the driver about a
// queue (virtio_should_notify said yes). With the "log" trace back end,
// which Debian's QEMU has, each becomes a line in the file given by -D.
// Writing those lines costs the host CPU, more for the guest that makes
// more crossings, so a run with -virtio-trace counts crossings and its
// requests/s are not to be compared.

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// virtioTraceArgs are the QEMU arguments that log both events to a new
// file in dir, and that file's path.
func virtioTraceArgs(dir, sys string) (args []string, path string) {
	path = filepath.Join(dir, fmt.Sprintf("%s-%d.log", sys, time.Now().UnixNano()))
	return []string{"-trace", "enable=virtio_queue_notify", "-trace", "enable=virtio_notify", "-D", path}, path
}

// virtioTrace reads one guest's trace log as QEMU appends to it.
type virtioTrace struct {
	path string
	off  int64
	// queue maps a virtqueue's address, which virtio_notify names, to
	// its index, which only virtio_queue_notify names: a queue's index
	// is known once the driver has notified it (every driver notifies
	// each receive queue at least once, when it first fills it).
	queue map[string]string
	// counts: "kick N" and "irq N" (N the queue's index, or "?" for an
	// interrupt on a queue never notified), cumulative.
	counts map[string]uint64
}

func newVirtioTrace(path string) *virtioTrace {
	return &virtioTrace{path: path, queue: map[string]string{}, counts: map[string]uint64{}}
}

// update reads the lines added since the last update. A line QEMU has
// not finished writing is left for the next one.
func (t *virtioTrace) update() error {
	f, err := os.Open(t.path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(t.off, io.SeekStart); err != nil {
		return err
	}
	r := bufio.NewReader(f)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return nil // io.EOF, with any partial line left unread
		}
		t.off += int64(len(line))
		t.add(line)
	}
}

// add counts one line of the log; lines of other events are ignored.
func (t *virtioTrace) add(line string) {
	f := strings.Fields(line)
	// With -msg timestamp=on QEMU glues "pid@seconds:" to the event's
	// name; the name is the first field that is one of ours.
	for i, w := range f {
		if j := strings.LastIndexByte(w, ':'); j >= 0 {
			w = w[j+1:]
		}
		switch w {
		case "virtio_queue_notify":
			n, vq := field(f[i+1:], "n"), field(f[i+1:], "vq")
			if n == "" {
				return
			}
			if vq != "" {
				t.queue[vq] = n
			}
			t.counts["kick "+n]++
			return
		case "virtio_notify":
			n, ok := t.queue[field(f[i+1:], "vq")]
			if !ok {
				n = "?"
			}
			t.counts["irq "+n]++
			return
		}
	}
}

// field is the word after key in f ("n 1" gives "1"), or "".
func field(f []string, key string) string {
	for i := 0; i+1 < len(f); i++ {
		if f[i] == key {
			return f[i+1]
		}
	}
	return ""
}

// snapshot copies the counts.
func (t *virtioTrace) snapshot() map[string]uint64 {
	m := make(map[string]uint64, len(t.counts))
	for k, v := range t.counts {
		m[k] = v
	}
	return m
}

// cardPerRequest describes the crossings between two snapshots of a
// virtio-net card (queue 0 receives, queue 1 transmits) per request,
// and returns the kicks and interrupts per request over all queues.
func cardPerRequest(a, b map[string]uint64, requests int) (desc string, kicks, irqs float64) {
	n := float64(requests)
	per := func(k string) float64 { return float64(b[k]-a[k]) / n }
	for k := range b {
		if strings.HasPrefix(k, "kick ") {
			kicks += per(k)
		} else {
			irqs += per(k)
		}
	}
	desc = fmt.Sprintf("notifications %.2f (receive %.2f, transmit %.2f), interrupts %.2f (receive %.2f, transmit %.2f)",
		kicks, per("kick 0"), per("kick 1"), irqs, per("irq 0"), per("irq 1"))
	return desc, kicks, irqs
}

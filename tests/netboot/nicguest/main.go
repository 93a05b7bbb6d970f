// Command nicguest is a guest for tests/netboot's driver tests: it checks
// that loopback TCP works (with or without a network card), then waits
// until the card has seen -frames frames (delivered or dropped) or -wait
// passes, and prints the card's counters (kernel.NetStats) on stdout.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/velocityos/velocity/kernel"
)

func main() {
	frames := flag.Uint64("frames", 0, "frames to wait for (delivered plus dropped on receive)")
	wait := flag.Duration("wait", 30*time.Second, "how long to wait for them")
	flag.Parse()
	if err := loopback(); err != nil {
		fmt.Println("nicguest: loopback:", err)
		os.Exit(1)
	}
	fmt.Println("nicguest: loopback ok")
	deadline := time.Now().Add(*wait)
	for {
		st, err := kernel.NetStats()
		if errors.Is(err, kernel.ErrNoNIC) {
			if *frames == 0 || time.Now().After(deadline) {
				fmt.Println("nicguest: no network card")
				return
			}
		} else if err != nil {
			fmt.Println("nicguest:", err)
			os.Exit(1)
		} else if seen := st.RxFrames + st.RxBadUsed + st.RxRunt + st.RxOversize + st.RxBadHeader; seen >= *frames || time.Now().After(deadline) {
			st.Write(os.Stdout)
			fmt.Println("nicguest: done")
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// loopback echoes one message over 127.0.0.1.
func loopback() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		return err
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		return fmt.Errorf("echo %q, %v", buf, err)
	}
	return nil
}

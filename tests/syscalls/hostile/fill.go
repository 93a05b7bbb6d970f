package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// fillTmp writes 1 MiB at a time to files under /tmp until a write
// fails. On Velocity /tmp lives in RAM: the write must fail with ENOSPC
// (and the program go on), not take the frames the Go heap needs and end
// the machine. Then it frees the space and checks that the program works.
func fillTmp() {
	dir, err := os.MkdirTemp("/tmp", "fill")
	if err != nil {
		fail("fill: %v", err)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = byte(i)
	}
	total := 0
	var werr error
	for file := 0; werr == nil; file++ {
		f, err := os.Create(fmt.Sprintf("%s/f%d", dir, file))
		if err != nil {
			werr = err
			break
		}
		for i := 0; i < 64 && werr == nil; i++ { // files of up to 64 MiB
			var n int
			n, werr = f.Write(chunk)
			total += n
		}
		f.Close()
	}
	fmt.Printf("fill: wrote %d MiB to /tmp, then: %v\n", total>>20, werr)
	if !errors.Is(werr, syscall.ENOSPC) {
		fail("fill: the write that failed said %v, want ENOSPC", werr)
	}
	if err := os.RemoveAll(dir); err != nil {
		fail("fill: remove: %v", err)
	}
	alive()
}

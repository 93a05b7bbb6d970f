package net

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/velocityos/velocity/tests/net/internal/earlysock"
)

// TestSocketDuringDependencyInit: a dependency that listens while it
// initialises (earlysock) gets a working socket, because the build makes
// every package outside the standard library that uses net import the
// stack's package first (internal/build, addFirstNetImport). Without
// that, inside Velocity, its Listen failed with EAFNOSUPPORT.
func TestSocketDuringDependencyInit(t *testing.T) {
	if earlysock.Err != nil {
		t.Fatalf("net.Listen during package initialisation: %v", earlysock.Err)
	}
	ln := earlysock.Listener
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		_, err = io.WriteString(c, "early")
		done <- err
	}()
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "early" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

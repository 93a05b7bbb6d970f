package main

import (
	"bytes"
	"sync"
	"testing"
)

func TestClusterCmdline(t *testing.T) {
	b := &bootFlags{appendLine: "quiet -- -x 1", env: stringList{"VELOCITY_NODE=2"}}
	got, err := clusterCmdline(b, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if want := "VELOCITY_NODE=2 ip=10.0.9.2/24 peers=10.0.9.1:80,10.0.9.3:80 quiet -- -x 1"; got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
	b.appendLine = "peers=1.2.3.4:80"
	if _, err := clusterCmdline(b, 1, 2); err == nil {
		t.Fatal("a peers= of the user's was accepted")
	}
	b.appendLine = "ip=10.0.0.1/8"
	if _, err := clusterCmdline(b, 1, 2); err == nil {
		t.Fatal("an ip= of the user's was accepted")
	}
	b.appendLine = "-- -peers=x"
	if _, err := clusterCmdline(b, 1, 2); err != nil {
		t.Fatalf("the program's own argument after --: %v", err)
	}
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	a := &prefixWriter{prefix: "[node 1] ", out: &out, mu: &mu}
	b := &prefixWriter{prefix: "[node 2] ", out: &out, mu: &mu}
	a.Write([]byte("hel"))
	b.Write([]byte("one\r\ntw"))
	a.Write([]byte("lo\nx"))
	b.Write([]byte("o\n"))
	a.Flush()
	want := "[node 2] one\n[node 1] hello\n[node 2] two\n[node 1] x\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

func TestClusterRefusesConflicts(t *testing.T) {
	for _, b := range []bootFlags{{net: "user"}, {hostfwd: stringList{"tcp:1-:2"}}, {env: stringList{"VELOCITY_NODE=1"}}} {
		if st := runCluster(&b, "/nonexistent", t.TempDir(), 2, nil); st != exitUsage {
			t.Errorf("%+v: status %d", b, st)
		}
	}
	if st := runCluster(&bootFlags{}, "/nonexistent", t.TempDir(), 9, nil); st != exitUsage {
		t.Errorf("9 nodes: status %d", st)
	}
}

package model

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/velocityos/velocity/lang/jit"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/modtable"
	"github.com/velocityos/velocity/registry"
	"github.com/velocityos/velocity/telemetry"
)

// exampleTable loads examples/modules into a module table.
func exampleTable(t *testing.T) (*modtable.Table, *merkle.Loader, []cid.Cid) {
	t.Helper()
	if !jit.Supported() {
		t.Skip("the module table needs the JIT (linux/amd64)")
	}
	st := registry.NewMemStore()
	var roots []cid.Cid
	for _, n := range []string{"arith.vel", "stats.vel", "checksum.vel", "combo.vel"} {
		src, err := os.ReadFile(filepath.Join("../../examples/modules", n))
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := registry.AddSource(st, n, src)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, c)
	}
	l := merkle.NewLoader(st)
	tab := modtable.New(l)
	for _, c := range roots {
		h, err := tab.Load(c)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Release() })
	}
	return tab, l, roots
}

func TestFromTable(t *testing.T) {
	tab, l, roots := exampleTable(t)
	mods, err := FromTable(tab, l, map[string]string{roots[0].String(): "arith"})
	if err != nil {
		t.Fatal(err)
	}
	if len(mods) != tab.Stats().Modules {
		t.Fatalf("%d modules, table has %d", len(mods), tab.Stats().Modules)
	}
	var b Builder
	s := b.Build(Inputs{Modules: mods})
	funcs := 0
	for _, m := range mods {
		funcs += len(m.Funcs)
	}
	if s.Count(KindModule) != len(mods) || s.Count(KindFunc) != funcs {
		t.Errorf("nodes: %d modules %d functions, want %d and %d", s.Count(KindModule), s.Count(KindFunc), len(mods), funcs)
	}
	arith := s.Find(roots[0].String())
	if arith < 0 || s.Nodes[arith].Label != "arith" {
		t.Fatalf("arith node missing or unnamed")
	}
	// combo imports arith, and Choose calls arith's Fact.
	imports, calls := 0, 0
	for _, e := range s.Edges {
		if e.Kind == EdgeImport && e.To == arith && e.From == s.Find(roots[3].String()) {
			imports++
		}
		if e.Kind == EdgeCall && s.Nodes[e.From].Label == "Choose" && s.Nodes[e.To].Label == "Fact" {
			calls++
		}
	}
	if imports != 1 || calls != 1 {
		t.Errorf("combo→arith import edges %d, Choose→Fact call edges %d; want 1 and 1", imports, calls)
	}
	if s.Peers != NotAvailable || s.Model != NotAvailable {
		t.Errorf("peers %q model %q", s.Peers, s.Model)
	}
}

func sample(id string, calls, cycles uint64) telemetry.Sample {
	return telemetry.Sample{ID: id, Stats: telemetry.Stats{Calls: calls, Cycles: cycles}}
}

func TestHeatAndHealing(t *testing.T) {
	mods := []Module{{CID: "modA", Name: "slow", Funcs: []Func{{CID: "f1", Name: "Work"}}}}
	var b Builder
	s0 := b.Build(Inputs{Now: 0, Modules: mods, Samples: []telemetry.Sample{sample("f1", 10, 1000)}})
	if h := s0.Nodes[s0.Find("f1")].Heat; h != 0 {
		t.Errorf("first snapshot has heat %v without a window", h)
	}
	s1 := b.Build(Inputs{Now: time.Second / 2, Modules: mods, Samples: []telemetry.Sample{sample("f1", 20, 5_001_000)}})
	f1 := s1.Nodes[s1.Find("f1")]
	if f1.Heat != 10_000_000 || f1.Calls != 20 {
		t.Errorf("heat %v calls %d, want 1e7 cycles/s and 20", f1.Heat, f1.Calls)
	}
	ev := []Event{{Kind: "swap", Slot: "Work", From: "f1", To: "f2", At: time.Second}}
	s2 := b.Build(Inputs{Now: time.Second, Modules: mods, Events: ev})
	i1, i2 := s2.Find("f1"), s2.Find("f2")
	if i2 < 0 {
		t.Fatal("the swapped-in version has no node")
	}
	n2 := s2.Nodes[i2]
	if !n2.Current || s2.Nodes[i1].Current || n2.SwappedAt != time.Second || len(n2.Versions) != 2 || n2.Label != "Work" {
		t.Errorf("after the swap: old %+v new %+v", s2.Nodes[i1], n2)
	}
	derived := false
	for _, e := range s2.Edges {
		derived = derived || e.Kind == EdgeDerivedFrom && e.From == i1 && e.To == i2
	}
	if !derived || s2.Swaps != 1 {
		t.Errorf("no derived-from edge f1→f2 (swaps %d)", s2.Swaps)
	}
	ev = append(ev, Event{Kind: "rollback", Slot: "Work", From: "f1", To: "f2"})
	s3 := b.Build(Inputs{Now: 2 * time.Second, Modules: mods, Events: ev})
	if n := s3.Nodes[s3.Find("f2")]; !n.RolledBack || n.Current || !s3.Nodes[s3.Find("f1")].Current || s3.Rolled != 1 {
		t.Errorf("after the rollback: %+v", n)
	}
	// A snapshot shares nothing with its inputs.
	mods[0].Funcs[0].Name = "changed"
	if s3.Nodes[s3.Find("f1")].Label != "Work" {
		t.Error("changing the inputs changed a snapshot")
	}
}

func TestMachine(t *testing.T) {
	var b Builder
	m := Machine{Available: true, CPUBusy: []time.Duration{0, 0}, Reserved: 2, MemTotal: 100, MemFree: 40}
	b.Build(Inputs{Now: 0, Machine: m})
	m.CPUBusy = []time.Duration{time.Second / 4, time.Second}
	s := b.Build(Inputs{Now: time.Second, Machine: m})
	if len(s.CPUs) != 2 || s.CPUs[0].Load != 0.25 || s.CPUs[1].Load != 1 || s.CPUs[0].Reserved || !s.CPUs[1].Reserved {
		t.Errorf("CPUs %+v", s.CPUs)
	}
	s = b.Build(Inputs{Now: 2 * time.Second})
	if len(s.CPUs) != 0 {
		t.Error("CPUs shown without kernel statistics")
	}
}

func TestLogRing(t *testing.T) {
	r := &LogRing{N: 2}
	r.Write([]byte("a\nb\nc"))
	r.Write([]byte("d\n"))
	if got := r.Lines(); len(got) != 2 || got[0] != "b" || got[1] != "cd" {
		t.Errorf("lines %q", got)
	}
}

// The table loads and unloads modules while snapshots are built from it
// (run with -race): FromTable reads through a loader of its own.
func TestTableChangesWhileSnapshotted(t *testing.T) {
	tab, _, roots := exampleTable(t)
	st := registry.NewMemStore()
	for _, n := range []string{"arith.vel", "stats.vel", "checksum.vel", "combo.vel"} {
		src, _ := os.ReadFile(filepath.Join("../../examples/modules", n))
		registry.AddSource(st, n, src)
	}
	own := merkle.NewLoader(st)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			h, err := tab.Load(roots[1+i%3])
			if err != nil {
				t.Error(err)
				return
			}
			h.Release()
		}
	}()
	var b Builder
	for i := 0; i < 200; i++ {
		mods, err := FromTable(tab, own, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := b.Build(Inputs{Modules: mods})
		if s.Count(KindModule) != len(mods) {
			t.Fatalf("snapshot has %d module nodes for %d modules", s.Count(KindModule), len(mods))
		}
	}
	close(stop)
	<-done
}

// Package model is what the Synaptic Canvas draws: an immutable snapshot
// of the live module graph (modules, their functions, imports and calls),
// each function's telemetry heat, the healer's swaps and rollbacks, and the
// machine's state (per-CPU busy time, memory, the last [Self-Evolution]
// lines).
//
// The renderer only ever reads a Snapshot. A Snapshot shares nothing
// mutable with the module table, the telemetry registry or the healer it
// was built from, so the table may change (modules loaded or unloaded, a
// swap) while a frame is being drawn: the frame shows the graph as it was
// when the snapshot was taken, and the next frame shows the change.
package model

import (
	"fmt"
	"sort"
	"time"

	"github.com/velocityos/velocity/telemetry"
)

// Kind is what a node stands for.
type Kind uint8

const (
	KindModule Kind = iota // a loaded module (its CID)
	KindFunc               // a module function (its CID)
	KindGo                 // a Go function of the kernel with a telemetry probe
)

func (k Kind) String() string {
	switch k {
	case KindModule:
		return "module"
	case KindFunc:
		return "function"
	case KindGo:
		return "Go function"
	}
	return "?"
}

// EdgeKind is what an edge stands for.
type EdgeKind uint8

const (
	EdgeImport      EdgeKind = iota // module → module it imports
	EdgeCall                        // function → function it calls
	EdgeMember                      // module → its function
	EdgeDerivedFrom                 // old version → the version healing derived from it
)

// Node is one drawn node.
type Node struct {
	ID     string // CID, or the probe name of a Go function
	Label  string // function or module name (short)
	Kind   Kind
	Module string // for functions: the CID of the module holding it

	Calls      uint64  // total calls counted by telemetry
	MeanCycles float64 // over all calls
	Heat       float64 // cycles per second over the last window

	// Versions lists the CIDs of the healing history this node belongs
	// to, oldest first (just its own CID if never healed).
	Versions []string
	// Current is false for a version the slot no longer runs (replaced
	// or rolled back); its node stays, linked by a derived-from edge.
	Current    bool
	RolledBack bool          // this version was rolled back
	SwappedAt  time.Duration // when this version was swapped in (0: never)
}

// Edge joins two nodes (indexes into Snapshot.Nodes).
type Edge struct {
	From, To int
	Kind     EdgeKind
}

// CPU is one CPU's share of the work.
type CPU struct {
	Busy     time.Duration // since boot
	Load     float64       // busy fraction over the last window, 0..1
	Reserved bool          // kept for pinned work (the LLM core)
}

// Snapshot is one frame's worth of state. Nothing in it is shared with
// the live system.
type Snapshot struct {
	At    time.Duration // when it was taken (since the builder started)
	Nodes []Node
	Edges []Edge

	CPUs          []CPU // empty when the kernel's statistics are not available
	MemTotal      uint64
	MemFree       uint64
	HeapAlloc     uint64
	Log           []string // the last [Self-Evolution] lines, oldest first
	Peers, Model  string   // status lines; "not available yet" until those exist
	Swaps, Rolled int      // healing events so far
}

// Find returns the index of the node with this ID, or -1.
func (s *Snapshot) Find(id string) int {
	for i := range s.Nodes {
		if s.Nodes[i].ID == id {
			return i
		}
	}
	return -1
}

// Count returns how many nodes are of kind k.
func (s *Snapshot) Count(k Kind) int {
	c := 0
	for i := range s.Nodes {
		if s.Nodes[i].Kind == k {
			c++
		}
	}
	return c
}

// Module is a loaded module as the builder needs it.
type Module struct {
	CID     string
	Name    string
	Imports []string // CIDs of imported modules
	Funcs   []Func
}

// Func is one function of a module.
type Func struct {
	CID   string
	Name  string
	Calls []string // CIDs of the functions it calls
}

// Event is a healing event: a swap (From → To), a rollback (To is
// abandoned, From runs again) or a proof.
type Event struct {
	Kind     string // "swap", "rollback", "proven"
	Slot     string // the slot's (function's) name
	From, To string // CIDs
	At       time.Duration
}

// Machine is the kernel's state for the side panels.
type Machine struct {
	Available bool // false on a host without the kernel's statistics
	CPUBusy   []time.Duration
	Reserved  uint64 // mask
	MemTotal  uint64
	MemFree   uint64
	HeapAlloc uint64
}

// Inputs is everything one snapshot is built from.
type Inputs struct {
	Now     time.Duration
	Modules []Module
	Samples []telemetry.Sample // telemetry: keyed by CID (JIT) or name (Go probes)
	GoProbe []string           // names of Go probes to show as nodes (those in Samples)
	Events  []Event
	Log     []string
	Machine Machine
	Peers   string // "" means "not available yet"
	Model   string
}

// NotAvailable is the status of what does not exist yet.
const NotAvailable = "not available yet"

// Builder turns successive Inputs into Snapshots; it remembers the
// previous telemetry and CPU times to compute rates.
type Builder struct {
	prevCycles map[string]uint64
	prevBusy   []time.Duration
	prevAt     time.Duration
	started    bool
}

// Build makes the snapshot of in. Functions in events that are not in any
// module (healed versions) become nodes of the same module as the version
// they derive from.
func (b *Builder) Build(in Inputs) *Snapshot {
	s := &Snapshot{At: in.Now, Peers: in.Peers, Model: in.Model}
	if s.Peers == "" {
		s.Peers = NotAvailable
	}
	if s.Model == "" {
		s.Model = NotAvailable
	}
	dt := (in.Now - b.prevAt).Seconds()
	if !b.started || dt <= 0 {
		dt = 0
	}
	stats := map[string]telemetry.Stats{}
	for _, smp := range in.Samples {
		st := stats[smp.Key()]
		st.Merge(smp.Stats)
		stats[smp.Key()] = st
	}
	idx := map[string]int{}
	add := func(n Node) int {
		if i, ok := idx[n.ID]; ok {
			return i
		}
		if n.Versions == nil {
			n.Versions = []string{n.ID}
		}
		st := stats[n.ID]
		n.Calls, n.MeanCycles = st.Calls, st.Mean()
		if prev, ok := b.prevCycles[n.ID]; ok && dt > 0 && st.Cycles >= prev {
			n.Heat = float64(st.Cycles-prev) / dt
		}
		s.Nodes = append(s.Nodes, n)
		idx[n.ID] = len(s.Nodes) - 1
		return len(s.Nodes) - 1
	}
	for _, m := range in.Modules {
		name := m.Name
		if name == "" {
			name = shortCID(m.CID)
		}
		add(Node{ID: m.CID, Label: name, Kind: KindModule, Current: true})
	}
	for _, m := range in.Modules {
		mi := idx[m.CID]
		for _, f := range m.Funcs {
			fi := add(Node{ID: f.CID, Label: f.Name, Kind: KindFunc, Module: m.CID, Current: true})
			s.Edges = append(s.Edges, Edge{mi, fi, EdgeMember})
		}
		for _, imp := range m.Imports {
			if j, ok := idx[imp]; ok {
				s.Edges = append(s.Edges, Edge{mi, j, EdgeImport})
			}
		}
	}
	for _, m := range in.Modules {
		for _, f := range m.Funcs {
			for _, c := range f.Calls {
				if j, ok := idx[c]; ok && j != idx[f.CID] {
					s.Edges = append(s.Edges, Edge{idx[f.CID], j, EdgeCall})
				}
			}
		}
	}
	// Healing: each swap adds the new version next to the old one.
	for _, e := range in.Events {
		from, ok := idx[e.From]
		if !ok {
			continue // a slot not in the table: nothing to attach to
		}
		switch e.Kind {
		case "swap":
			old := s.Nodes[from]
			to := add(Node{ID: e.To, Label: old.Label, Kind: old.Kind, Module: old.Module, Current: true})
			s.Nodes[to].SwappedAt = e.At
			s.Nodes[to].Versions = append(append([]string(nil), old.Versions...), e.To)
			s.Nodes[from].Current = false
			s.Edges = append(s.Edges, Edge{from, to, EdgeDerivedFrom})
			if mi, ok := idx[old.Module]; ok {
				s.Edges = append(s.Edges, Edge{mi, to, EdgeMember})
			}
			s.Swaps++
		case "rollback":
			if to, ok := idx[e.To]; ok {
				s.Nodes[to].RolledBack, s.Nodes[to].Current = true, false
			}
			s.Nodes[from].Current = true
			s.Rolled++
		}
	}
	for _, name := range in.GoProbe {
		add(Node{ID: name, Label: name, Kind: KindGo, Current: true})
	}
	s.Log = append([]string(nil), in.Log...)

	if m := in.Machine; m.Available {
		s.MemTotal, s.MemFree, s.HeapAlloc = m.MemTotal, m.MemFree, m.HeapAlloc
		for i, busy := range m.CPUBusy {
			c := CPU{Busy: busy, Reserved: m.Reserved&(1<<uint(i)) != 0}
			if i < len(b.prevBusy) && dt > 0 && busy >= b.prevBusy[i] {
				c.Load = min(1, (busy-b.prevBusy[i]).Seconds()/dt)
			}
			s.CPUs = append(s.CPUs, c)
		}
		b.prevBusy = append(b.prevBusy[:0], m.CPUBusy...)
	} else {
		s.HeapAlloc = in.Machine.HeapAlloc
	}
	if b.prevCycles == nil {
		b.prevCycles = map[string]uint64{}
	}
	clear(b.prevCycles)
	for k, st := range stats {
		b.prevCycles[k] = st.Cycles
	}
	b.prevAt, b.started = in.Now, true
	return s
}

// LayoutGraph returns the node IDs and edges in the form package layout
// takes.
func (s *Snapshot) LayoutGraph() ([]string, [][2]int) {
	ids := make([]string, len(s.Nodes))
	for i := range s.Nodes {
		ids[i] = s.Nodes[i].ID
	}
	es := make([][2]int, len(s.Edges))
	for i, e := range s.Edges {
		es[i] = [2]int{e.From, e.To}
	}
	return ids, es
}

// Details is the text the canvas shows for a selected node.
func (n *Node) Details() []string {
	lines := []string{
		fmt.Sprintf("%s %s", n.Kind, n.Label),
		"CID " + n.ID,
		fmt.Sprintf("calls %d  mean %.0f cycles", n.Calls, n.MeanCycles),
		fmt.Sprintf("heat %.3g cycles/s", n.Heat),
		fmt.Sprintf("versions %d", len(n.Versions)),
	}
	for i, v := range n.Versions {
		lines = append(lines, fmt.Sprintf("  v%d %s", i+1, shortCID(v)))
	}
	switch {
	case n.RolledBack:
		lines = append(lines, "rolled back")
	case !n.Current:
		lines = append(lines, "replaced (derived-from edge to the new version)")
	}
	return lines
}

func shortCID(c string) string {
	if len(c) > 14 {
		return ".." + c[len(c)-12:]
	}
	return c
}

// LogRing keeps the last N lines written to it (one Write may hold many
// lines); it is what the healer's Log writes to, next to the serial
// console. Safe for concurrent use is up to the caller (see canvas/live).
type LogRing struct {
	N     int
	lines []string
	part  []byte
}

// Write appends complete lines; a partial line waits for its newline.
func (r *LogRing) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			r.lines = append(r.lines, string(r.part))
			r.part = r.part[:0]
			if n := max(r.N, 1); len(r.lines) > n {
				r.lines = append(r.lines[:0], r.lines[len(r.lines)-n:]...)
			}
			continue
		}
		if len(r.part) < 4096 { // a runaway line is cut, never grows without bound
			r.part = append(r.part, c)
		}
	}
	return len(p), nil
}

// Lines returns a copy of the lines kept, oldest first.
func (r *LogRing) Lines() []string { return append([]string(nil), r.lines...) }

// SortModules orders modules by CID so snapshots are deterministic.
func SortModules(ms []Module) {
	sort.Slice(ms, func(i, j int) bool { return ms[i].CID < ms[j].CID })
}

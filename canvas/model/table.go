package model

import (
	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/modtable"
)

// FromTable lists the modules loaded in tab, with their functions and the
// calls between them, decoded from src. names gives display names by
// module CID (optional). Modules are in the table's load order.
//
// src must be a loader of its own over the table's blocks, not the table's
// source: the table uses its source under its own lock while it loads,
// and a merkle.Loader is not safe for concurrent use. The table itself
// may load and unload modules meanwhile (Entries is a copy).
func FromTable(tab *modtable.Table, src modtable.Source, names map[string]string) ([]Module, error) {
	var out []Module
	for _, e := range tab.Entries() {
		dm, err := src.Module(e.CID)
		if err != nil {
			return nil, err
		}
		m := Module{CID: e.CID.String(), Name: names[e.CID.String()]}
		for _, c := range dm.Imports {
			m.Imports = append(m.Imports, c.String())
		}
		// Decoded functions carry no names (names are metadata, not
		// hashed); the export map has the exported ones.
		exported := map[string]string{}
		for name, f := range dm.Exports {
			exported[f.CID.String()] = name
		}
		for _, f := range dm.Funcs {
			fn := FuncOf(f)
			if n, ok := exported[fn.CID]; ok {
				fn.Name = n
			} else {
				fn.Name = "func " + shortCID(fn.CID)
			}
			m.Funcs = append(m.Funcs, fn)
		}
		out = append(out, m)
	}
	return out, nil
}

// FuncOf describes an IR function: its CID, name and the distinct CIDs of
// the functions its body calls.
func FuncOf(f *ir.Func) Func {
	fn := Func{CID: f.CID.String(), Name: f.Name}
	seen := map[string]bool{}
	eachCall(f.Body, func(c *ir.Call) {
		if c.Target == nil || !c.Target.CID.Defined() {
			return
		}
		id := c.Target.CID.String()
		if !seen[id] {
			seen[id] = true
			fn.Calls = append(fn.Calls, id)
		}
	})
	return fn
}

// eachCall visits every call expression in ss.
func eachCall(ss []ir.Stmt, f func(*ir.Call)) {
	var ex func(e ir.Expr)
	ex = func(e ir.Expr) {
		switch x := e.(type) {
		case nil:
		case *ir.Call:
			f(x)
			for _, a := range x.Args {
				ex(a)
			}
		case *ir.Unary:
			ex(x.X)
		case *ir.Binary:
			ex(x.X)
			ex(x.Y)
		case *ir.Convert:
			ex(x.X)
		case *ir.Index:
			ex(x.X)
			ex(x.I)
		case *ir.SliceOf:
			ex(x.X)
			ex(x.Lo)
			ex(x.Hi)
		case *ir.Len:
			ex(x.X)
		case *ir.Make:
			ex(x.N)
		case *ir.Composite:
			for _, el := range x.Elems {
				ex(el)
			}
		}
	}
	for _, s := range ss {
		switch x := s.(type) {
		case *ir.Assign:
			ex(x.Dst)
			ex(x.X)
		case *ir.Eval:
			ex(x.X)
		case *ir.Return:
			ex(x.X)
		case *ir.If:
			ex(x.Cond)
			eachCall(x.Then, f)
			eachCall(x.Else, f)
		case *ir.Loop:
			ex(x.Cond)
			eachCall(x.Body, f)
			eachCall(x.Post, f)
		}
	}
}

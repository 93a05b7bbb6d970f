package record

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/ipfs/go-cid"

	"github.com/velocityos/velocity/lang/ir"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/registry"
)

// LogFile is the record log's name inside a directory store (a dot file,
// which the store's listing skips).
const LogFile = ".biosphere-records"

// MaxLog bounds the records a log holds (and a peer's list that a poller
// reads).
const MaxLog = 10000

// Log is the list of records a node publishes, newest last, optionally
// kept in a file (one CID per line, replaced atomically on each Add).
type Log struct {
	mu   sync.Mutex
	path string
	cids []cid.Cid
}

// OpenLog reads the log at path ("" for a log kept in memory only). A
// missing file is an empty log; a malformed one is an error.
func OpenLog(path string) (*Log, error) {
	l := &Log{path: path}
	if path == "" {
		return l, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		if len(l.cids) >= MaxLog {
			return nil, fmt.Errorf("%s: more than %d records", path, MaxLog)
		}
		c, err := cid.Decode(string(bytes.TrimSpace(sc.Bytes())))
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		l.cids = append(l.cids, c)
	}
	return l, sc.Err()
}

// List returns the records' CIDs, oldest first.
func (l *Log) List() []cid.Cid {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]cid.Cid(nil), l.cids...)
}

// Add appends c (once) and saves the log.
func (l *Log) Add(c cid.Cid) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, x := range l.cids {
		if x.Equals(c) {
			return nil
		}
	}
	if len(l.cids) >= MaxLog {
		return fmt.Errorf("record log is full (%d records)", MaxLog)
	}
	next := append(append([]cid.Cid(nil), l.cids...), c)
	if l.path != "" {
		var buf bytes.Buffer
		for _, x := range next {
			fmt.Fprintln(&buf, x)
		}
		tmp, err := os.CreateTemp(filepath.Dir(l.path), ".records-tmp-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := tmp.Write(buf.Bytes()); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp.Name(), l.path); err != nil {
			return err
		}
	}
	l.cids = next
	return nil
}

// FuncBlocks returns the blocks that make up function f (its function
// block, or its group and member blocks), hashed the way heal's gate
// hashes a candidate, so the CID of the last block's function is f's CID.
// Calls to other functions are links; their blocks are not included.
func FuncBlocks(f *ir.Func) (cid.Cid, []merkle.Block, error) {
	cp := *f
	cp.CID = cid.Undef
	h, err := merkle.HashModule(&ir.Module{Name: "variant", Funcs: []*ir.Func{&cp}})
	if err != nil {
		return cid.Undef, nil, err
	}
	var out []merkle.Block
	for _, b := range h.Blocks {
		if !b.CID.Equals(h.CID) { // not the wrapper module's block
			out = append(out, b)
		}
	}
	return cp.CID, out, nil
}

// Publish stores the variant f's blocks and the record r (whose From,
// Passes, Advisor, Gate and Speedup the caller has set; To is set here to
// f's CID), signs it with priv, stores the record block and appends it
// to l. Peers then find it in the gateway's record list.
func Publish(s registry.Store, l *Log, f *ir.Func, r *Record, priv ed25519.PrivateKey) (cid.Cid, error) {
	to, blocks, err := FuncBlocks(f)
	if err != nil {
		return cid.Undef, err
	}
	if f.CID.Defined() && !f.CID.Equals(to) {
		return cid.Undef, fmt.Errorf("record: function %s hashes to %s", f.CID, to)
	}
	r.To = to
	if err := r.Sign(priv); err != nil {
		return cid.Undef, err
	}
	c, data, err := r.Encode()
	if err != nil {
		return cid.Undef, err
	}
	for _, b := range blocks {
		if err := s.Put(b.CID, b.Data); err != nil {
			return cid.Undef, err
		}
	}
	if err := s.Put(c, data); err != nil {
		return cid.Undef, err
	}
	return c, l.Add(c)
}

package registry

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/ipfs/go-cid"
)

// DirStore keeps one file per block, named by the CID's base32 string, in
// a directory. Writes go to a temporary file that is synced and renamed
// into place, so a reader never sees a partial block; block files are made
// read-only and are never rewritten.
type DirStore struct {
	Dir string
}

// OpenDir opens (creating if needed) a directory store.
func OpenDir(dir string) (*DirStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &DirStore{Dir: dir}, nil
}

func (d *DirStore) path(c cid.Cid) string { return filepath.Join(d.Dir, c.String()) }

func (d *DirStore) Put(c cid.Cid, data []byte) error {
	if err := Verify(c, data); err != nil {
		return err
	}
	p := d.path(c)
	if old, err := os.ReadFile(p); err == nil {
		if bytes.Equal(old, data) {
			return nil
		}
		// A corrupt file under this name: refuse to touch it silently.
		return fmt.Errorf("block %s: stored file differs from the verified content; remove %s to repair", c, p)
	}
	tmp, err := os.CreateTemp(d.Dir, ".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(name, 0o444); err != nil {
		return err
	}
	if err := os.Rename(name, p); err != nil {
		return err
	}
	// Sync the directory so the rename itself survives a crash; a node
	// killed before this point holds the old state (no block, or a
	// .tmp- file that List and Has ignore), never a partial block.
	if dir, err := os.Open(d.Dir); err == nil {
		dir.Sync()
		dir.Close()
	}
	return nil
}

func (d *DirStore) Get(c cid.Cid) ([]byte, error) {
	b, err := os.ReadFile(d.path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, c)
	}
	if err != nil {
		return nil, err
	}
	if err := Verify(c, b); err != nil {
		return nil, err
	}
	return b, nil
}

func (d *DirStore) Has(c cid.Cid) (bool, error) {
	_, err := os.Stat(d.path(c))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func (d *DirStore) List() ([]cid.Cid, error) {
	ents, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, err
	}
	var out []cid.Cid
	for _, e := range ents {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		c, err := cid.Decode(e.Name())
		if err != nil || c.String() != e.Name() {
			continue // not a block file
		}
		out = append(out, c)
	}
	sortCIDs(out)
	return out, nil
}

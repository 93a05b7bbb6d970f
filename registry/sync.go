package registry

import (
	"sync"

	"github.com/ipfs/go-cid"
)

// Synchronized returns a Store that serialises s's methods with a
// read-write lock, for stores that are safe for one goroutine at a time
// (MemStore) but are served and filled concurrently (the Biosphere's
// gateway and fetch client). DirStore and Pack need no wrapper.
func Synchronized(s Store) Store { return &syncStore{s: s} }

type syncStore struct {
	mu sync.RWMutex
	s  Store
}

func (m *syncStore) Put(c cid.Cid, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.s.Put(c, data)
}

func (m *syncStore) Get(c cid.Cid) ([]byte, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s.Get(c)
}

func (m *syncStore) Has(c cid.Cid) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s.Has(c)
}

func (m *syncStore) List() ([]cid.Cid, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.s.List()
}

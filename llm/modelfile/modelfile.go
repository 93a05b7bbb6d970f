// Package modelfile opens a GGUF model file: memory-mapped where the system
// allows it (the weights are then paged in on use and shared, rather than
// copied onto the heap), read into memory otherwise (as in the unikernel's
// image file system). Inside Velocity, /dev/vda (and vdb, ...) names a
// virtio block disk, read whole through drivers/virtioblk (disk.go).
package modelfile

import (
	"fmt"
	"os"
	"syscall"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/llm/gguf"
)

// File is an open model file.
type File struct {
	*gguf.File
	Data   []byte
	Mapped bool
	// From says where the bytes came from when that is not a plain file
	// (a disk: the device and the read's speed).
	From string
}

// Open maps or reads path and parses it as GGUF.
func Open(path string) (*File, error) {
	if n, ok := diskIndex(path); ok && kernel.OnVelocity() {
		return openDisk(path, n)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size <= 0 || size != int64(int(size)) {
		return nil, fmt.Errorf("%s: size %d cannot be mapped", path, size)
	}
	m := &File{}
	if data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED); err == nil {
		m.Data, m.Mapped = data, true
	} else {
		if m.Data, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	if m.File, err = gguf.Parse(m.Data); err != nil {
		m.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Close unmaps the file; its tensors must not be used afterwards.
func (m *File) Close() error {
	if m.Mapped {
		m.Mapped = false
		return syscall.Munmap(m.Data)
	}
	return nil
}

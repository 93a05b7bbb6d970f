// Package virtioblk drives a virtio block device read-only: the disk
// `velocity run -disk FILE` attaches (QEMU's virtio-blk-pci with
// readonly=on), through which a model too large for the image's file
// system reaches the on-board LLM (llm/modelfile opens /dev/vda with it).
//
// It is a Go driver on drivers/virtio: one request queue, each read one
// chain of three descriptors (the request header, the data buffer the
// device writes, the status byte). A read waits for its completion by
// polling the used ring (reads happen once, when a model is loaded, and
// are long: polling costs no interrupt plumbing and the wait is the
// transfer itself). Nothing is ever written to the disk: the driver
// sends only read requests.
package virtioblk

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"time"

	"github.com/velocityos/velocity/drivers/pci"
	"github.com/velocityos/velocity/drivers/virtio"
)

// PCI device ids of virtio-blk: transitional and modern.
const (
	idTransitional = 0x1001
	idModern       = 0x1042
)

// Feature bits (virtio 1.2, 5.2.3).
const (
	featSizeMax = 1 << 1
	featSegMax  = 1 << 2
	featRO      = 1 << 5
	featBlkSize = 1 << 6
)

// Request types and status values.
const (
	reqIn    = 0
	statusOK = 0
)

// SectorSize is the unit of virtio-blk addresses, whatever the device's
// block size.
const SectorSize = 512

// chunk is the largest read per request: the data buffer, 1 MiB of DMA
// memory allocated once per disk.
const chunk = 1 << 20

// Timeout bounds the wait for one request.
var Timeout = 30 * time.Second

// Disk is an open virtio block device. ReadAt is safe for concurrent use
// (requests are serialised).
type Disk struct {
	// Addr is the PCI address; Interface is "modern" or "legacy".
	Addr, Interface string
	// ReadOnly reports whether the device says it is read-only.
	ReadOnly bool

	mu     sync.Mutex
	dev    *virtio.Device
	q      *virtio.Queue
	hdr    pci.DMA // request header at 0, status byte at 16
	buf    pci.DMA // data
	maxReq int     // bytes per request
	size   int64
	used   []virtio.Used
}

// Open opens the n-th virtio block device in bus order (0 is /dev/vda).
func Open(n int) (*Disk, error) {
	devs, err := pci.Scan()
	if err != nil {
		return nil, fmt.Errorf("virtioblk: %w", err)
	}
	k := 0
	for _, d := range devs {
		if d.Vendor != virtio.Vendor || (d.Device != idTransitional && d.Device != idModern) {
			continue
		}
		if k == n {
			return open(d)
		}
		k++
	}
	return nil, fmt.Errorf("virtioblk: no virtio block device %d (%d found; velocity run -disk FILE attaches one)", n, k)
}

func open(d pci.Device) (*Disk, error) {
	dev, err := virtio.Open(d, virtio.Options{})
	if err != nil {
		return nil, err
	}
	got, err := dev.Negotiate(featSizeMax | featSegMax | featRO | featBlkSize)
	if err != nil {
		return nil, err
	}
	q, err := dev.Queue(0, 16)
	if err != nil {
		dev.Fail()
		return nil, err
	}
	q.DisableInterrupts() // completions are polled
	k := &Disk{Addr: d.Addr(), Interface: dev.Interface(), ReadOnly: got&featRO != 0, dev: dev, q: q, maxReq: chunk}
	if k.hdr, err = pci.AllocDMA(1); err == nil {
		k.buf, err = pci.AllocDMA(chunk / 4096)
	}
	if err != nil {
		dev.Fail()
		return nil, err
	}
	// The device may bound one segment (SIZE_MAX); each request here has
	// a single data segment, so that bounds the request.
	if got&featSizeMax != 0 {
		if sm := int(dev.Config(8, 4)); sm >= SectorSize && sm < k.maxReq {
			k.maxReq = sm &^ (SectorSize - 1)
		}
	}
	// capacity, a 64-bit field read as two halves: read until stable.
	for i := 0; ; i++ {
		hi := dev.Config(4, 4)
		lo := dev.Config(0, 4)
		if dev.Config(4, 4) == hi {
			k.size = int64(uint64(hi)<<32|uint64(lo)) * SectorSize
			break
		}
		if i == 100 {
			dev.Fail()
			return nil, fmt.Errorf("virtioblk %s: capacity keeps changing", k.Addr)
		}
	}
	if k.size < 0 {
		dev.Fail()
		return nil, fmt.Errorf("virtioblk %s: capacity beyond 2^63 bytes", k.Addr)
	}
	dev.Ready()
	return k, nil
}

// Size is the disk's size in bytes (a whole number of sectors: a file
// attached by QEMU is padded with zeros to the next sector).
func (k *Disk) Size() int64 { return k.size }

// ReadAt reads len(p) bytes at off, as io.ReaderAt: fewer only at the
// end of the disk, with io.EOF.
func (k *Disk) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("virtioblk: negative offset")
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= k.size {
			return n, io.EOF
		}
		sector := pos / SectorSize
		skip := int(pos - sector*SectorSize)
		want := min(len(p)-n+skip, k.maxReq, int(k.size-sector*SectorSize))
		want = (want + SectorSize - 1) &^ (SectorSize - 1)
		if err := k.read(sector, want); err != nil {
			return n, err
		}
		n += copy(p[n:], k.buf.Bytes()[skip:want])
	}
	return n, nil
}

// read reads length bytes (whole sectors, at most maxReq) from sector
// into the data buffer.
func (k *Disk) read(sector int64, length int) error {
	h := k.hdr.Bytes()
	binary.LittleEndian.PutUint32(h[0:], reqIn)
	binary.LittleEndian.PutUint32(h[4:], 0)
	binary.LittleEndian.PutUint64(h[8:], uint64(sector))
	h[16] = 0xFF // the device overwrites it
	k.q.SetDesc(0, k.hdr.PA, 16, virtio.DescNext, 1)
	k.q.SetDesc(1, k.buf.PA, uint32(length), virtio.DescWrite|virtio.DescNext, 2)
	k.q.SetDesc(2, k.hdr.PA+16, 1, virtio.DescWrite, 0)
	k.q.Push(0)
	k.q.Kick()
	deadline := time.Now().Add(Timeout)
	for spins := 0; ; spins++ {
		k.used = k.q.TakeUsed(k.used[:0], uint32(length)+1)
		if len(k.used) > 0 {
			break
		}
		if spins%1024 == 1023 && time.Now().After(deadline) {
			return fmt.Errorf("virtioblk %s: no answer to a read of %d bytes at sector %d within %v", k.Addr, length, sector, Timeout)
		}
		runtime.Gosched()
	}
	if st := h[16]; st != statusOK {
		return fmt.Errorf("virtioblk %s: read of %d bytes at sector %d: device status %d", k.Addr, length, sector, st)
	}
	return nil
}

// ReadAll reads the whole disk into memory (the engine's tensors are
// slices of it). The disk's size comes from the device, so it is checked
// against limit (the caller's idea of the memory it can spare) before
// anything is allocated.
func (k *Disk) ReadAll(limit int64) ([]byte, error) {
	if k.size > limit || k.size > int64(^uint(0)>>1) {
		return nil, fmt.Errorf("virtioblk %s: the disk's %d bytes do not fit in the %d bytes of memory available", k.Addr, k.size, limit)
	}
	b := make([]byte, k.size)
	n, err := k.ReadAt(b, 0)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == k.size) {
		return nil, err
	}
	return b, nil
}

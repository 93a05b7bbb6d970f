package modelfile

import (
	"fmt"
	"time"

	"github.com/velocityos/velocity/drivers/virtioblk"
	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/llm/gguf"
)

// diskIndex maps /dev/vda, /dev/vdb, ... to 0, 1, ...: inside Velocity
// these names are the virtio block devices in PCI order (the disks
// `velocity run -disk FILE` attaches, in the order given). The kernel's
// file system has no device nodes: the name is resolved here, by the
// model loader, which reads the disk through the Go driver.
func diskIndex(path string) (int, bool) {
	if len(path) == len("/dev/vda") && path[:7] == "/dev/vd" && path[7] >= 'a' && path[7] <= 'z' {
		return int(path[7] - 'a'), true
	}
	return 0, false
}

// diskHeadroom is the memory left to everything else when a disk is read
// whole.
const diskHeadroom = 64 << 20

func openDisk(path string, n int) (*File, error) {
	start := time.Now()
	d, err := virtioblk.Open(n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	in, err := kernel.ReadInfo()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	data, err := d.ReadAll(int64(in.MemFree) - diskHeadroom)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := &File{Data: data}
	took := time.Since(start)
	m.From = fmt.Sprintf("virtio-blk %s (%s, %s), %d bytes read in %v (%.1f MB/s)", d.Addr, d.Interface,
		map[bool]string{true: "read-only", false: "writable, used read-only"}[d.ReadOnly], len(data), took.Round(time.Millisecond),
		float64(len(data))/1e6/took.Seconds())
	if m.File, err = gguf.Parse(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

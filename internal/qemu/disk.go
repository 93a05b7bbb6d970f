package qemu

import (
	"fmt"
	"os"
)

// DiskArgs returns the QEMU arguments that attach each file as a
// read-only raw virtio block disk (virtio-blk-pci), in order: inside
// Velocity they are /dev/vda, /dev/vdb, ... (llm/modelfile reads them
// through drivers/virtioblk). QEMU opens the file read-only and pads it
// with zeros to a whole number of 512-byte sectors; the guest cannot
// change it.
func DiskArgs(files []string) ([]string, error) {
	if len(files) > 26 {
		return nil, fmt.Errorf("-disk: %d disks, at most 26 (vda to vdz)", len(files))
	}
	var args []string
	for i, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("-disk: %w", err)
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("-disk %s: not a regular file", f)
		}
		id := fmt.Sprintf("vd%c", 'a'+i)
		args = append(args,
			"-drive", "if=none,id="+id+",format=raw,readonly=on,file="+escapeOpt(f),
			"-device", "virtio-blk-pci,drive="+id)
	}
	return args, nil
}

package qemu

import (
	"fmt"
	"os"
	"path/filepath"
)

// OVMFDirs are searched, in order, for UEFI firmware. Debian and Ubuntu use
// /usr/share/OVMF; other distributions /usr/share/ovmf or edk2 paths.
var OVMFDirs = []string{"/usr/share/OVMF", "/usr/share/ovmf", "/usr/share/edk2/ovmf", "/usr/share/edk2-ovmf/x64", "/usr/share/qemu"}

// ovmfPairs lists code/vars file names that belong together: a variable
// store only works with the code image of the same flash size.
var ovmfPairs = [][2]string{
	{"OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"},
	{"OVMF_CODE.fd", "OVMF_VARS.fd"},
	{"edk2-x86_64-code.fd", "edk2-i386-vars.fd"},
}

// FindOVMF returns matching OVMF code and variable-store images.
func FindOVMF() (code, vars string, err error) {
	for _, dir := range OVMFDirs {
		for _, p := range ovmfPairs {
			code, vars := filepath.Join(dir, p[0]), filepath.Join(dir, p[1])
			if isFile(code) && isFile(vars) {
				return code, vars, nil
			}
		}
	}
	return "", "", fmt.Errorf("no OVMF firmware (OVMF_CODE.fd and OVMF_VARS.fd) in %v: install the ovmf package (scripts/deps.sh)", OVMFDirs)
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

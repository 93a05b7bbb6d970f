package build

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"

	"github.com/velocityos/velocity/arch/amd64/boot"
)

// StubEnv names a prebuilt BOOT_ND.BIN to use instead of building one.
// velocity test sets it so the stub is assembled once, not once per package.
const StubEnv = "VELOCITY_STUB"

// Stub returns the path of the 32-bit boot stub BOOT_ND.BIN. It is built in
// a private directory (so concurrent builds do not race) and then stored in
// the cache under its content hash.
func Stub() (string, error) {
	if p := os.Getenv(StubEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s: %w", StubEnv, err)
		}
		return p, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(cache, ".stub-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	built, err := boot.Build(tmp)
	if err != nil {
		return "", fmt.Errorf("building BOOT_ND.BIN: %w", err)
	}
	data, err := os.ReadFile(built)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	stub := filepath.Join(cache, "stub", "BOOT_ND-"+hex.EncodeToString(sum[:8])+".BIN")
	if _, err := os.Stat(stub); err == nil {
		return stub, nil
	}
	if err := writeFileAtomic(stub, data); err != nil {
		return "", err
	}
	return stub, nil
}

package shell

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/velocityos/velocity/kernel"
	"github.com/velocityos/velocity/lang/merkle"
	"github.com/velocityos/velocity/lang/modtable"
	"github.com/velocityos/velocity/registry"
	"github.com/velocityos/velocity/telemetry"
)

// loadState is the background workload of the load command.
type loadState struct {
	mu      sync.Mutex
	running atomic.Int32 // goroutines still hashing
	until   time.Time
}

const maxLoad = 10 * time.Minute

func (sh *Shell) startLoad(args []string) error {
	d := 5 * time.Second
	switch len(args) {
	case 0:
	case 1:
		secs, err := strconv.ParseFloat(args[0], 64)
		d = time.Duration(secs * float64(time.Second))
		if err != nil || !(secs > 0) || d > maxLoad {
			return usageError{fmt.Sprintf("bad duration %q (want seconds, more than 0, at most %v)", args[0], maxLoad)}
		}
	default:
		return usageError{"too many arguments"}
	}
	l := &sh.load
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running.Load() > 0 {
		return fmt.Errorf("already running for %.1fs more", time.Until(l.until).Seconds())
	}
	n := runtime.GOMAXPROCS(0)
	l.until = time.Now().Add(d)
	l.running.Store(int32(n))
	for range n {
		go func() {
			defer l.running.Add(-1)
			hashLoad(l.until)
		}()
	}
	fmt.Fprintf(sh.Out, "load: %d goroutines hashing for %.1fs in the background\n", n, d.Seconds())
	return nil
}

var loadProbe = sync.OnceValue(func() *telemetry.Probe { return telemetry.NewProbe("shell load: SHA-256 of 64 KiB") })

// hashLoad hashes a buffer over and over until the deadline; each hash is
// timed by a telemetry probe. It is not inlined so profiles name it.
//
//go:noinline
func hashLoad(until time.Time) {
	p := loadProbe()
	buf := make([]byte, 64<<10)
	for time.Now().Before(until) {
		t := p.Start()
		sum := sha256.Sum256(buf)
		p.End(t)
		buf[0] ^= sum[0]
	}
}

// FindPack looks for the module pack a program should load: path if not
// empty, else $VELOCITY_MODPACK, else (on Velocity) the first file named
// modules.pack in the image's file system, which holds files at their
// host paths (make image puts build/modules.pack there).
func FindPack(path string) (string, error) {
	if path != "" {
		return path, nil
	}
	if p := os.Getenv("VELOCITY_MODPACK"); p != "" {
		return p, nil
	}
	if !kernel.OnVelocity() {
		return "", errors.New("no module pack given (set $VELOCITY_MODPACK)")
	}
	found := ""
	filepath.WalkDir("/", func(p string, d fs.DirEntry, err error) error {
		if err == nil && found == "" && !d.IsDir() && d.Name() == "modules.pack" {
			found = p
			return fs.SkipAll
		}
		return nil
	})
	if found == "" {
		return "", errors.New("no modules.pack in the image's file system (build the image with make image, or velocity run -fs PACK)")
	}
	return found, nil
}

// LoadPack loads every root module of the pack at path into a new module
// table and returns it with the handles that keep the modules loaded.
func LoadPack(path string) (*modtable.Table, []*modtable.Module, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	pack, err := registry.OpenPack(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	tab := modtable.New(merkle.NewLoader(pack))
	var hs []*modtable.Module
	for _, c := range pack.Roots {
		if _, err := registry.Graph(pack, c); err != nil {
			return nil, nil, err
		}
		h, err := tab.Load(c)
		if err != nil {
			for _, h := range hs {
				h.Release()
			}
			return nil, nil, err
		}
		hs = append(hs, h)
	}
	return tab, hs, nil
}

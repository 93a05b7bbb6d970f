package kernel

import (
	"time"
	"unsafe"
)

const sysLocks = 0x5607

// rawLockStat mirrors vkLockStat in runtime/vk_lock.go.
type rawLockStat struct {
	Name                                          [24]byte
	Instances, Acquires, Contended, WaitNs, MaxNs uint64
	Halts                                         uint64
}

// LockStats is one class of kernel locks (the big kernel lock, the futex
// hash buckets, the per-CPU run queues, ...), summed over its instances
// since boot.
type LockStats struct {
	Name      string
	Instances int           // locks in the class (buckets, CPUs)
	Acquires  uint64        // times a lock of the class was taken
	Contended uint64        // times it was found held by another CPU
	Wait      time.Duration // time spent spinning for it, summed over CPUs
	MaxWait   time.Duration // the longest single wait
	// Halts counts waits that stopped spinning and halted the CPU until
	// the holder released the lock: holds longer than about 20 us,
	// which under a hypervisor usually means the holder's virtual CPU
	// lost its host CPU.
	Halts uint64
}

// ContendedPercent is Contended as a percentage of Acquires.
func (s LockStats) ContendedPercent() float64 {
	if s.Acquires == 0 {
		return 0
	}
	return 100 * float64(s.Contended) / float64(s.Acquires)
}

// Locks reads the kernel's lock contention counters, one entry per lock
// class. The kernel reads them without taking the locks, so a snapshot
// may be a few acquisitions behind.
func Locks() ([]LockStats, error) {
	var raw [32]rawLockStat
	n, err := tableCall(sysLocks, unsafe.Pointer(&raw[0]), unsafe.Sizeof(raw), len(raw))
	if err != nil {
		return nil, err
	}
	out := make([]LockStats, 0, n)
	for _, r := range raw[:n] {
		out = append(out, LockStats{
			Name: cName(r.Name[:]), Instances: int(r.Instances), Acquires: r.Acquires,
			Contended: r.Contended, Wait: time.Duration(r.WaitNs), MaxWait: time.Duration(r.MaxNs), Halts: r.Halts,
		})
	}
	return out, nil
}

// LocksDelta is after minus before, class by class (matched by name), for
// measuring the contention of one piece of work.
func LocksDelta(before, after []LockStats) []LockStats {
	out := make([]LockStats, 0, len(after))
	for _, a := range after {
		d := a
		for _, b := range before {
			if b.Name == a.Name {
				d.Acquires -= b.Acquires
				d.Contended -= b.Contended
				d.Wait -= b.Wait
				d.Halts -= b.Halts
			}
		}
		out = append(out, d)
	}
	return out
}

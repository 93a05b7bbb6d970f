package heal

// Healed is what the healer tells Healer.OnHealed when a version it
// swapped in has proven itself on live traffic. A node that shares its
// healed variants (biosphere/record.Publisher) turns it into a signed
// provenance record. The hook runs after the trial, not at the swap, so
// a version that is rolled back is never announced.
type Healed struct {
	Slot    string
	From    string   // CID of the version replaced
	To      *Version // the proven version; To.Func is its hashed IR
	Advisor string   // who proposed it ("optimizer", an advisor's name)
	Passes  []string // how it was produced
	Gate    Report   // the gate's report at the swap (recorded inputs)
	// Speedup is the trial's: old and new timed on the inputs seen
	// since the swap (or the live means when none were recorded).
	Speedup float64
}

// healed tells OnHealed that t's new version was proven.
func (h *Healer) healed(s *Slot, t *trial, speedup float64) {
	if h.OnHealed == nil {
		return
	}
	h.OnHealed(Healed{
		Slot: s.Name, From: t.old.CID, To: t.new, Advisor: t.advisor,
		Passes: t.new.Passes, Gate: t.rep, Speedup: speedup,
	})
}

package telemetry

import "testing"

// FuzzParseRuleSet: any string (a kernel command line word) parses or is
// refused with an error, never a panic; whatever parses formats back to
// rules that parse to the same values.
func FuzzParseRuleSet(f *testing.F) {
	for _, s := range []string{"", "default", "mean=3000000,calls=20", "mean=1;Work:p99=5,windows=3",
		"Work:", ":", ";;", "mean=18446744073709551616", "a:b:c=1", "calls=1_000"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs, err := ParseRuleSet(s)
		if err != nil {
			return
		}
		again, err := ParseRule(rs.Default.String())
		if err != nil || again != rs.Default {
			t.Fatalf("%q: default %v formats to %q, which parses to %v, %v", s, rs.Default, rs.Default.String(), again, err)
		}
		for name, r := range rs.Func {
			again, err := ParseRule(r.String())
			if err != nil || again != r {
				t.Fatalf("%q: rule of %s %v does not round-trip: %v, %v", s, name, r, again, err)
			}
		}
	})
}

package build

// Cheaper arithmetic for gVisor's monotonic clock readings, in kernels that
// link the network stack.
//
// tcpip.MonotonicTime is an int64 of nanoseconds, but its Add and Sub go
// through time.Unix, Time.Add and Time.Sub to get saturation at the ends
// of the range: some 40 calls and checks where one add and one overflow
// test do. gVisor calls them for every segment's timestamps, every timer's
// deadline and every RTT sample; in a guest profile of a new connection
// per request (2026-12-06, over tap) they and the time functions under
// them were 1.5% of the guest's CPU. The edit computes the same results
// (clamped to the int64 range, as time.Duration is) directly;
// testdata/gvisortest/monotonic_test.go checks it against the original
// arithmetic at the edges and by fuzzing.

// monotonicEdits are the replacements in gVisor's tcpip.go.
var monotonicEdits = []gvisorEdit{
	{
		"pkg/tcpip/tcpip.go",
		"\treturn MonotonicTime{\n\t\tnanoseconds: time.Unix(0, mt.nanoseconds).Add(d).Sub(time.Unix(0, 0)).Nanoseconds(),\n\t}\n",
		"\t// velocity (internal/build/netmonotonic.go): time.Time's saturating\n" +
			"\t// arithmetic, done on the int64 directly.\n" +
			"\tn := mt.nanoseconds + int64(d)\n" +
			"\tswitch {\n\tcase d > 0 && n < mt.nanoseconds:\n\t\tn = math.MaxInt64\n\tcase d < 0 && n > mt.nanoseconds:\n\t\tn = math.MinInt64\n\t}\n" +
			"\treturn MonotonicTime{nanoseconds: n}\n",
	},
	{
		"pkg/tcpip/tcpip.go",
		"\treturn time.Unix(0, mt.nanoseconds).Sub(time.Unix(0, u.nanoseconds))\n",
		"\t// velocity (internal/build/netmonotonic.go): as time.Time.Sub, clamped.\n" +
			"\td := mt.nanoseconds - u.nanoseconds\n" +
			"\tswitch {\n\tcase u.nanoseconds < 0 && d < mt.nanoseconds:\n\t\treturn math.MaxInt64\n\tcase u.nanoseconds > 0 && d > mt.nanoseconds:\n\t\treturn math.MinInt64\n\t}\n" +
			"\treturn time.Duration(d)\n",
	},
}

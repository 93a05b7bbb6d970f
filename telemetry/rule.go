package telemetry

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// RuleEnv is the environment variable RuleFromEnv reads. On Velocity,
// KEY=VALUE words on the kernel command line become environment
// variables, so "TELEMETRY_RULE=mean=3000000,calls=20" on the command
// line configures the trigger.
const RuleEnv = "TELEMETRY_RULE"

// ParseRule parses "mean=N,p99=N,calls=N,windows=N" (any subset, in any
// order; unset fields keep DefaultRule's values, "default" is
// DefaultRule).
func ParseRule(s string) (Rule, error) {
	r := DefaultRule
	s = strings.TrimSpace(s)
	if s == "" || s == "default" {
		return r, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return r, fmt.Errorf("telemetry: rule %q: %q is not key=value", s, kv)
		}
		n, err := strconv.ParseUint(strings.ReplaceAll(v, "_", ""), 10, 64)
		if err != nil {
			return r, fmt.Errorf("telemetry: rule %q: %s: %v", s, k, err)
		}
		switch k {
		case "mean":
			r.MeanAbove = n
		case "p99":
			r.P99Above = n
		case "calls":
			r.MinCalls = n
		case "windows":
			r.Windows = int(n)
		default:
			return r, fmt.Errorf("telemetry: rule %q: unknown key %q (want mean, p99, calls, windows)", s, k)
		}
	}
	return r, nil
}

// String formats r as ParseRule reads it.
func (r Rule) String() string {
	return fmt.Sprintf("mean=%d,p99=%d,calls=%d,windows=%d", r.MeanAbove, r.P99Above, r.MinCalls, r.Windows)
}

// RuleFromEnv returns the rule in $TELEMETRY_RULE, or DefaultRule.
func RuleFromEnv() (Rule, error) { return ParseRule(os.Getenv(RuleEnv)) }

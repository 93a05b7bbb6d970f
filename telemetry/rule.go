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

// RuleFromEnv returns the default rule of $TELEMETRY_RULE (see
// ParseRuleSet), or DefaultRule.
func RuleFromEnv() (Rule, error) {
	rs, err := ParseRuleSet(os.Getenv(RuleEnv))
	return rs.Default, err
}

// RuleSet is a default rule plus rules for single functions, so one slow
// function can be watched more (or less) closely than the rest without
// rebuilding the image.
type RuleSet struct {
	Default Rule
	// Func maps a function's name (as Sample.Name) or ID (a module
	// function's CID) to its rule.
	Func map[string]Rule
}

// ParseRuleSet parses "RULE;NAME:RULE;..." where each RULE is what
// ParseRule reads: the part without a "NAME:" is the default (DefaultRule
// when there is none), and "NAME:RULE" applies to the function whose name
// or CID is NAME. Example: "mean=3000000;Work:mean=500000,calls=5". On
// the kernel command line this is one word: TELEMETRY_RULE=... (no
// spaces).
func ParseRuleSet(s string) (RuleSet, error) {
	rs := RuleSet{Default: DefaultRule}
	seenDefault := false
	for _, part := range strings.Split(s, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, rule, named := strings.Cut(part, ":")
		if !named {
			if seenDefault {
				return rs, fmt.Errorf("telemetry: rules %q: two default rules (name the function: NAME:RULE)", s)
			}
			r, err := ParseRule(part)
			if err != nil {
				return rs, err
			}
			rs.Default, seenDefault = r, true
			continue
		}
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, "=,") {
			return rs, fmt.Errorf("telemetry: rules %q: %q is not NAME:RULE", s, part)
		}
		if strings.TrimSpace(rule) == "" {
			return rs, fmt.Errorf("telemetry: rules %q: no rule for %s", s, name)
		}
		r, err := ParseRule(rule)
		if err != nil {
			return rs, err
		}
		if rs.Func == nil {
			rs.Func = map[string]Rule{}
		}
		if _, dup := rs.Func[name]; dup {
			return rs, fmt.Errorf("telemetry: rules %q: two rules for %s", s, name)
		}
		rs.Func[name] = r
	}
	return rs, nil
}

// RuleSetFromEnv returns the rules in $TELEMETRY_RULE.
func RuleSetFromEnv() (RuleSet, error) { return ParseRuleSet(os.Getenv(RuleEnv)) }

// Apply installs the set in w: the default, and the per-function rules
// (matched by CID or by name, see Watcher.ByName).
func (rs RuleSet) Apply(w *Watcher) {
	d := rs.Default
	w.mu.Lock()
	w.Default = &d
	if len(rs.Func) > 0 && w.ByName == nil {
		w.ByName = map[string]Rule{}
	}
	for k, r := range rs.Func {
		w.ByName[k] = r
	}
	w.mu.Unlock()
}

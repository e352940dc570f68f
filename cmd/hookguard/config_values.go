package main

// The value types of the config file: secrets, durations, tolerances, sizes.

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// secretList is one secret or a list of them (rotation).
type secretList []string

func (s *secretList) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*s = secretList{n.Value}
		return nil
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		*s = l
		return nil
	}
	return fmt.Errorf("line %d: a secret is a string or a list of strings", n.Line)
}

// duration is a time.Duration written as "90s", "5m", "1h".
type duration time.Duration

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 30s or 5m", n.Line, n.Value)
	}
	*d = duration(v)
	return nil
}

// tolerance is a route's freshness window: a duration, or "off". Zero (or
// absent) is the provider's default; a negative value is an error.
type tolerance struct {
	d   time.Duration
	off bool
}

func (t *tolerance) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseTolerance(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*t = v
	return nil
}

func parseTolerance(s string) (tolerance, error) {
	if s == "off" {
		return tolerance{off: true}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return tolerance{}, fmt.Errorf("tolerance: %q is not a duration like 5m, or off", s)
	}
	if d < 0 {
		return tolerance{}, fmt.Errorf("tolerance: %q is negative (0 is the provider's default; off turns the check off)", s)
	}
	return tolerance{d: d}, nil
}

// String and Set make tolerance a flag value.
func (t *tolerance) String() string {
	if t.off {
		return "off"
	}
	if t.d == 0 {
		return ""
	}
	return t.d.String()
}

func (t *tolerance) Set(s string) error {
	v, err := parseTolerance(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

func (t *tolerance) Type() string { return "duration|off" }

// byteSize is a size in bytes written as 1048576, "512KiB", "1MiB" or "1MB".
type byteSize int64

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*b = byteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<40)/mult {
		return 0, fmt.Errorf("%q is not a size like 1048576, 512KiB or 1MiB", s)
	}
	return v * mult, nil
}

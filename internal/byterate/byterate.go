// Package byterate parses and formats byte sizes and rates for people:
// "10M", "512KiB", "2.5MB/s" in, "12.3 MiB/s" out.
package byterate

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Parse reads a size or rate in bytes (per second). Suffixes are binary
// (k, K, KiB, KB all mean 1024), as every BitTorrent client's rate fields
// do; "/s" is optional; "0" and "" mean 0 (unlimited where used as a limit).
func Parse(s string) (int64, error) {
	in := strings.TrimSpace(s)
	t := strings.TrimSuffix(strings.ToLower(in), "/s")
	if t == "" {
		return 0, nil
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("rate %q: want a number with an optional unit, like 500K or 10M", in)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
		"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
		"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	}
	m, ok := mult[unit]
	if !ok {
		return 0, fmt.Errorf("rate %q: unknown unit %q (use K, M or G)", in, unit)
	}
	r := v * m
	if r > math.MaxInt64/2 {
		return 0, fmt.Errorf("rate %q: too large", in)
	}
	return int64(r), nil
}

// Size formats a byte count with binary units: "1.5 GiB".
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Rate formats bytes per second: "12.3 MiB/s".
func Rate(bps float64) string {
	if bps < 0 || math.IsNaN(bps) {
		bps = 0
	}
	return Size(int64(bps)) + "/s"
}

package testkit

import (
	"fmt"
	"sort"
)

// Median is the middle value of v (the upper one of an even count).
func Median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// Spread is "min/median/max" of v, two decimals each: how side-by-side
// ratios are reported.
func Spread(v []float64) string {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return fmt.Sprintf("%.2f/%.2f/%.2f", s[0], s[len(s)/2], s[len(s)-1])
}

//go:build race

package engine_test

import "time"

// slowdown is how much slower code runs in this test binary: the race
// detector slows the loader down several times.
func slowdown() time.Duration { return 10 }

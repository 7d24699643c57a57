//go:build !race

package engine_test

import "time"

func slowdown() time.Duration { return 1 }

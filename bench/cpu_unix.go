//go:build unix

package main

import (
	"time"

	"golang.org/x/sys/unix"
)

// cpuTime returns the CPU time this process has used so far, on all its
// threads, as the scheduler counts it (to the nanosecond, where getrusage
// counts in clock ticks, too coarse for a row of a few milliseconds); ok
// is false where that cannot be read.
func cpuTime() (d time.Duration, ok bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}

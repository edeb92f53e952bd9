package admit

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// unlimited is how cgroup v1 spells "no limit": the largest page-aligned
// int64. Anything at least this large is no limit either.
const unlimited = 1 << 62

// DefaultSize is the budget a server takes when none is configured: three
// quarters of its cgroup's memory limit, leaving the rest to the runtime,
// the job store and the engine's buffers; or, outside a limited cgroup,
// half the machine's memory. readFile reads a file of the host (os.ReadFile
// outside tests). It returns 0 when it can tell neither.
func DefaultSize(readFile func(string) ([]byte, error)) int64 {
	for _, path := range []string{
		"/sys/fs/cgroup/memory.max",                   // cgroup v2
		"/sys/fs/cgroup/memory/memory.limit_in_bytes", // cgroup v1
	} {
		b, err := readFile(path)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err == nil && n > 0 && n < unlimited {
			return n / 4 * 3
		}
	}
	b, err := readFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		// MemTotal:       24567896 kB
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[0] == "MemTotal:" && f[2] == "kB" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return kb << 10 / 2
			}
		}
	}
	return 0
}

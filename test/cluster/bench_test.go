package cluster

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/qasmat/qasmat/test/testkit"
)

// peakRSS reads a process's peak resident set size (VmHWM) in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			f := strings.Fields(line)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return -1
}

// BenchmarkProtectRetrieve1GiB protects and retrieves a 1 GiB file at (3,5)
// through the REST API of a proxy and 5 storage servers, each its own
// process on this machine, and reports MB/s and the proxy's peak RSS.
//
//	go test ./test/cluster -run '^$' -bench ProtectRetrieve1GiB -benchtime 1x
func BenchmarkProtectRetrieve1GiB(b *testing.B) {
	const size = 1 << 30
	// 1 GiB is above the default max_file_size (1,000,000,000 bytes).
	c := newCluster(b, clusterOpts{storages: 5, maxFileSize: 2 << 30})
	var up, down time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("big-%d.bin", i)
		start := time.Now()
		if err := c.protect(defaultUser, name, 3, newPattern(byte(i), size)); err != nil {
			b.Fatal(err)
		}
		up += time.Since(start)
		start = time.Now()
		d, n, err := c.retrieveDigest(defaultUser, name)
		if err != nil || n != size {
			b.Fatalf("retrieve: %d bytes, %v", n, err)
		}
		down += time.Since(start)
		if d != patternDigest(byte(i), size) {
			b.Fatal("retrieved bytes differ")
		}
	}
	b.ReportMetric(float64(size)*float64(b.N)/1e6/up.Seconds(), "protect-MB/s")
	b.ReportMetric(float64(size)*float64(b.N)/1e6/down.Seconds(), "retrieve-MB/s")
	b.ReportMetric(float64(peakRSS(c.proxy.Pid()))/(1<<20), "proxy-peak-RSS-MiB")
}

// BenchmarkSmallFilesConcurrent protects 4 KiB files from 16 concurrent
// clients at (2,3) and reports protects per second.
//
//	go test ./test/cluster -run '^$' -bench SmallFilesConcurrent -benchtime 2000x
func BenchmarkSmallFilesConcurrent(b *testing.B) {
	c := newCluster(b, clusterOpts{storages: 3})
	data := bytes.Repeat([]byte("q"), 4096)
	b.ResetTimer()
	start := time.Now()
	errs := testkit.Concurrently(16, b.N, func(i int) error {
		return c.protectBytes(defaultUser, fmt.Sprintf("small-%d", i), 2, data)
	})
	elapsed := time.Since(start)
	for _, err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "protects/s")
}

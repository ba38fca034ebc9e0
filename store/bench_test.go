package store

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// shareChunkSize is a full chunk's share chunk: 12-byte header + 1024 shares
// of 1024 bytes.
const shareChunkSize = 12 + 1024*1024

// peakRSSMiB reads the process's peak resident set size (Linux).
func peakRSSMiB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return float64(kb) / 1024
		}
	}
	return 0
}

func randomChunk(b *testing.B) []byte {
	data := make([]byte, shareChunkSize)
	if _, err := rand.Read(data); err != nil {
		b.Fatal(err)
	}
	return data
}

// BenchmarkShareStorePut writes full share chunks (random, so incompressible)
// and syncs every 8, as a storage server does for one upload stream.
func BenchmarkShareStorePut(b *testing.B) {
	s, err := OpenShareStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := randomChunk(b)
	b.SetBytes(shareChunkSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := s.PutChunk(fid(byte(i/1000)), 0, uint32(i), data); err != nil {
			b.Fatal(err)
		}
		if i%8 == 7 {
			if err := s.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

func BenchmarkShareStoreGet(b *testing.B) {
	s, err := OpenShareStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := randomChunk(b)
	const chunks = 256 // 256 MiB: more than the cache and the memtables
	for i := 0; i < chunks; i++ {
		if err := s.PutChunk(fid(1), 0, uint32(i), data); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(shareChunkSize)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.GetChunk(fid(1), 0, uint32(i%chunks)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFiveShareStores is `qasmat dev`'s storage side during a (3,5)
// upload: five stores in one process, each taking one share stream, as the
// protocol sends it: the chunks of one file in order, then SyncFile. The
// bytes counted are the plaintext bytes (one chunk of each of the five
// streams carries 1023*1023 plaintext bytes).
func BenchmarkFiveShareStores(b *testing.B) {
	stores := make([]*ShareStore, 5)
	for i := range stores {
		s, err := OpenShareStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	data := randomChunk(b)
	b.SetBytes(1023 * 1023)
	b.ResetTimer()
	var wg sync.WaitGroup
	for k, s := range stores {
		wg.Add(1)
		go func(s *ShareStore) {
			defer wg.Done()
			id := fid(byte(k))
			for i := 0; i < b.N; i++ {
				if err := s.PutChunk(id, 0, uint32(i), data); err != nil {
					b.Error(err)
					return
				}
			}
			if err := s.SyncFile(id, 0, uint32(b.N)); err != nil {
				b.Error(err)
			}
		}(s)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

// BenchmarkFiveShareStoresSyncEvery8 is the same load with a Sync every 8
// chunks (each Sync ingests the staged chunks so far), the benchmark's
// shape before SyncFile existed.
func BenchmarkFiveShareStoresSyncEvery8(b *testing.B) {
	stores := make([]*ShareStore, 5)
	for i := range stores {
		s, err := OpenShareStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		stores[i] = s
	}
	data := randomChunk(b)
	b.SetBytes(1023 * 1023)
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, s := range stores {
		wg.Add(1)
		go func(s *ShareStore) {
			defer wg.Done()
			for i := 0; i < b.N; i++ {
				if err := s.PutChunk(fid(byte(i/1000)), 0, uint32(i), data); err != nil {
					b.Error(err)
					return
				}
				if i%8 == 7 {
					if err := s.Sync(); err != nil {
						b.Error(err)
						return
					}
				}
			}
			if err := s.Sync(); err != nil {
				b.Error(err)
			}
		}(s)
	}
	wg.Wait()
	b.StopTimer()
	b.ReportMetric(peakRSSMiB(), "peak-RSS-MiB")
}

// BenchmarkCatalogPutFile records small (one-chunk, three-share) files from
// 16 concurrent uploads, the 4 KiB protect workload.
func BenchmarkCatalogPutFile(b *testing.B) {
	c, err := OpenCatalog(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	n := 0
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			rec, ch := testFile(0, "bench@example.com", fmt.Sprintf("f%09d", i), 1)
			rec.ID[0], rec.ID[1], rec.ID[2], rec.ID[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
			if err := c.PutFile(rec, ch); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkShareStoreSmallPutSync is the storage side of many small uploads
// at once: 16 goroutines each put one 5 KiB share chunk and Sync.
func BenchmarkShareStoreSmallPutSync(b *testing.B) {
	s, err := OpenShareStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 12+5*1024)
	var mu sync.Mutex
	n := 0
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			var id [16]byte
			id[0], id[1], id[2], id[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
			if err := s.PutChunk(id, 0, 0, data); err != nil {
				b.Error(err)
				return
			}
			if err := s.Sync(); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkShareStoreTwoChunkFiles: 16 goroutines each write a file of two
// chunks (a full one and 64 KiB: about 1.1 MB of plaintext) and SyncFile
// it: the smallest files that take the staged path (one ingest each).
func BenchmarkShareStoreTwoChunkFiles(b *testing.B) {
	s, err := OpenShareStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	full := randomChunk(b)
	last := full[:12+64*1024]
	var mu sync.Mutex
	n := 0
	b.SetParallelism(8)
	b.SetBytes(1023*1023 + 64*1023)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu.Lock()
			n++
			i := n
			mu.Unlock()
			var id [16]byte
			id[0], id[1], id[2], id[3] = byte(i), byte(i>>8), byte(i>>16), byte(i>>24)
			for c, data := range [][]byte{full, last} {
				if err := s.PutChunk(id, 0, uint32(c), data); err != nil {
					b.Error(err)
					return
				}
			}
			if err := s.SyncFile(id, 0, 2); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

package dev

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	mrand "math/rand/v2"

	"github.com/qasmat/qasmat/roles/proxy"
	"github.com/qasmat/qasmat/test/testkit"
)

type prng struct {
	r    *mrand.ChaCha8
	left int64
}

func (p *prng) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	n, _ := p.r.Read(b)
	p.left -= int64(n)
	return n, nil
}

// measure protects and retrieves b.N files of size bytes at (k, n) through
// the REST API and reports the mean plaintext throughput of each.
func measure(b *testing.B, url string, size int64, k int) {
	var up, down time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i)
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField("threshold", fmt.Sprint(k))
			fw, _ := mw.CreateFormFile("file", name)
			io.Copy(fw, &prng{r: mrand.NewChaCha8([32]byte{byte(i)}), left: size})
			mw.Close()
			pw.Close()
		}()
		start := time.Now()
		resp, err := http.Post(url+"/api/file/protect", mw.FormDataContentType(), pr)
		if err != nil {
			b.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("protect: HTTP %d %s", resp.StatusCode, msg)
		}
		up += time.Since(start)
		start = time.Now()
		resp, err = http.Post(url+"/api/file/retrieve", "application/x-www-form-urlencoded", strings.NewReader("name="+name))
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("retrieve: %v %v", err, resp)
		}
		got, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		down += time.Since(start)
		if got != size {
			b.Fatalf("retrieved %d bytes of %d", got, size)
		}
	}
	total := float64(size) * float64(b.N) / 1e6
	b.ReportMetric(total/up.Seconds(), "protect-MB/s")
	b.ReportMetric(total/down.Seconds(), "retrieve-MB/s")
}

// BenchmarkDevCluster measures protect and retrieve through the REST API of
// `qasmat dev` (in one process: the proxy and 5 storage servers) at (3,5),
// files of QASMAT_BENCH_MIB MiB (default 256; `make bench` uses 1024), and
// the peak RSS of the whole process (proxy, five stores and the client).
func BenchmarkDevCluster(b *testing.B) {
	mib := int64(256)
	if v := os.Getenv("QASMAT_BENCH_MIB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			b.Fatalf("QASMAT_BENCH_MIB=%q: not a positive number", v)
		}
		mib = n
	}
	// 1 GiB is above the default max_file_size (1,000,000,000 bytes).
	url, _ := startDev(b, Options{Storages: 5, Proxy: func(o *proxy.Options) { o.MaxFileSize = max(o.MaxFileSize, mib<<21) }})
	b.ResetTimer()
	measure(b, url, mib<<20, 3)
	b.ReportMetric(peakRSSMiB(), "process-peak-RSS-MiB")
}

// peakRSSMiB is this process's peak resident set (VmHWM), in MiB.
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return -1
}

// BenchmarkDevClusterQKD is the same at (2,3) with 16 MiB files, without
// QKD and with shares sealed in AES and OTP modes at simulated QKD key
// rates (bits per second): OTP needs n × the file size of key material, so
// its throughput is bounded by the key rate; AES needs 256 bits per 16 MiB.
func BenchmarkDevClusterQKD(b *testing.B) {
	for _, c := range []struct {
		mode string
		rate float64
	}{{"", 0}, {"AES", 1e6}, {"OTP", 1e9}, {"OTP", 1e8}} {
		name := "plain-noise"
		if c.mode != "" {
			name = fmt.Sprintf("%s-%gbps", c.mode, c.rate)
		}
		b.Run(name, func(b *testing.B) {
			url, _ := startDev(b, Options{Storages: 3, KMS: c.mode, KMSRate: c.rate})
			b.ResetTimer()
			measure(b, url, 16<<20, 2)
		})
	}
}

// BenchmarkDevSmallFiles protects 4 KiB files from 16 concurrent clients at
// (2,3) through `qasmat dev` and reports protects per second.
func BenchmarkDevSmallFiles(b *testing.B) {
	url, _ := startDev(b, Options{Storages: 3})
	data := bytes.Repeat([]byte("q"), 4096)
	b.ResetTimer()
	start := time.Now()
	errs := testkit.Concurrently(16, b.N, func(i int) error {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		mw.WriteField("threshold", "2")
		fw, _ := mw.CreateFormFile("file", fmt.Sprintf("small-%d", i))
		fw.Write(data)
		mw.Close()
		resp, err := http.Post(url+"/api/file/protect", mw.FormDataContentType(), &body)
		if err != nil {
			return err
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("protect: HTTP %d %s", resp.StatusCode, msg)
		}
		return nil
	})
	elapsed := time.Since(start)
	for _, err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "protects/s")
}

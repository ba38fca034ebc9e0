package dev

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	mrand "math/rand/v2"
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

// BenchmarkDevCluster measures protect and retrieve through the REST API of
// an in-process cluster of 5 storage servers at (3,5).
func BenchmarkDevCluster(b *testing.B) {
	const size = 256 << 20
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{DataDir: b.TempDir(), Storages: 5, Port: port,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	for i := 0; ; i++ {
		resp, err := http.Get(url + "/api/configuration")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `"limit":5`) {
				break
			}
		}
		if i > 300 {
			b.Fatal("cluster did not start")
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("f%d", i)
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField("threshold", "3")
			fw, _ := mw.CreateFormFile("file", name)
			io.Copy(fw, &prng{r: mrand.NewChaCha8([32]byte{byte(i)}), left: size})
			mw.Close()
			pw.Close()
		}()
		start := time.Now()
		resp, err := http.Post(url+"/api/file/protect", mw.FormDataContentType(), pr)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("protect: %v %v", err, resp)
		}
		resp.Body.Close()
		up := time.Since(start)
		start = time.Now()
		resp, err = http.Post(url+"/api/file/retrieve", "application/x-www-form-urlencoded", strings.NewReader("name="+name))
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("retrieve: %v %v", err, resp)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		down := time.Since(start)
		if n != size {
			b.Fatalf("retrieved %d bytes", n)
		}
		b.ReportMetric(float64(size)/1e6/up.Seconds(), "protect-MB/s")
		b.ReportMetric(float64(size)/1e6/down.Seconds(), "retrieve-MB/s")
	}
}

package webui

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"
)

// discardService accepts any upload by reading it and serves size bytes of
// zeros: what is measured is the HTTP layer alone over a real socket.
type discardService struct {
	*fakeService
	size int64
}

func (d discardService) Protect(_ context.Context, _ User, req ProtectRequest, body io.Reader) (FileInfo, error) {
	n, err := io.Copy(io.Discard, body)
	return FileInfo{Name: req.Name, Size: n}, err
}

func (d discardService) Retrieve(_ context.Context, _ User, name string, start func(FileInfo) io.Writer) error {
	w := start(FileInfo{Name: name, Size: d.size})
	buf := make([]byte, 1<<20)
	for left := d.size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		left -= n
	}
	return nil
}

const benchSize = 64 << 20

func benchServer(b *testing.B) *httptest.Server {
	h, err := NewRouter(discardService{newFake(), benchSize}, Options{
		AllowedOrigins: []string{"*"}, Logger: slog.New(slog.DiscardHandler), Dashboard: fstest.MapFS{},
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	return srv
}

func BenchmarkProtectStream(b *testing.B) {
	srv := benchServer(b)
	chunk := make([]byte, 1<<20)
	b.SetBytes(benchSize)
	for b.Loop() {
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			mw.WriteField("threshold", "2")
			fw, _ := mw.CreateFormFile("file", "bench.bin")
			for i := 0; i < benchSize/len(chunk); i++ {
				fw.Write(chunk)
			}
			mw.Close()
			pw.Close()
		}()
		resp, err := http.Post(srv.URL+"/api/file/protect", mw.FormDataContentType(), pr)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

func BenchmarkRetrieveStream(b *testing.B) {
	srv := benchServer(b)
	b.SetBytes(benchSize)
	for b.Loop() {
		resp, err := http.Post(srv.URL+"/api/file/retrieve", "application/x-www-form-urlencoded", bytes.NewReader([]byte("name=x")))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != benchSize {
			b.Fatalf("%d bytes", n)
		}
	}
}

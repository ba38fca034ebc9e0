package dev

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects the welcome text written by Run's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDev runs a dev cluster and returns its API URL and welcome text.
func startDev(t testing.TB, o Options) (string, *syncBuffer) {
	t.Helper()
	out := &syncBuffer{}
	o.Out, o.Port, o.Logger = out, 0, slog.New(slog.DiscardHandler)
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("dev cluster: %v", err)
		}
	})
	re := regexp.MustCompile(`REST API\s+(http://\S+)/api`)
	var url string
	for i := 0; url == ""; i++ {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			url = m[1]
			break
		}
		select {
		case err := <-done:
			t.Fatalf("dev cluster stopped: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if i > 300 {
			t.Fatal("no welcome text")
		}
	}
	for i := 0; ; i++ {
		var env struct {
			Data struct {
				Limit   int    `json:"limit"`
				Transit string `json:"transit"`
			} `json:"data"`
		}
		if getJSON(url+"/api/configuration", &env) == nil && env.Data.Limit == o.Storages {
			break
		}
		if i > 300 {
			t.Fatal("storage servers did not connect")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return url, out
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func protect(t *testing.T, url, name string, data []byte) {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("threshold", "2")
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(url+"/api/file/protect", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("protect: HTTP %d %s", resp.StatusCode, b)
	}
}

func retrieve(t *testing.T, url, name string) []byte {
	t.Helper()
	resp, err := http.Post(url+"/api/file/retrieve", "application/x-www-form-urlencoded", strings.NewReader("name="+name))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("X-File-Integrity") != "true" {
		t.Fatalf("retrieve: HTTP %d %s", resp.StatusCode, b)
	}
	return b
}

// `qasmat dev --kms MODE` runs a key manager simulator beside the cluster:
// files round-trip with every share sealed by QKD keys, and the API and
// the welcome text show the mode.
func TestDevWithKMS(t *testing.T) {
	for _, mode := range []string{"AES", "OTP"} {
		t.Run(mode, func(t *testing.T) {
			url, out := startDev(t, Options{Storages: 3, KMS: mode})
			if !strings.Contains(out.String(), "sealed with QKD keys ("+mode+")") {
				t.Fatalf("welcome text does not show the QKD mode:\n%s", out)
			}
			var env struct {
				Data struct {
					Transit string `json:"transit"`
				} `json:"data"`
			}
			if err := getJSON(url+"/api/configuration", &env); err != nil || env.Data.Transit != mode {
				t.Fatalf("/api/configuration transit %q (%v), want %s", env.Data.Transit, err, mode)
			}
			data := make([]byte, 1_500_000)
			rand.Read(data)
			protect(t, url, "f.bin", data)
			if got := retrieve(t, url, "f.bin"); !bytes.Equal(got, data) {
				t.Fatal("retrieved bytes differ")
			}
		})
	}
}

// Files protected by `qasmat dev` survive a restart on the same data folder.
func TestDevKeepsFilesAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	data := []byte("kept across restarts")
	t.Run("first", func(t *testing.T) {
		url, _ := startDev(t, Options{Storages: 2, DataDir: dir})
		protect(t, url, "keep.txt", data)
	})
	url, _ := startDev(t, Options{Storages: 2, DataDir: dir})
	if got := retrieve(t, url, "keep.txt"); !bytes.Equal(got, data) {
		t.Fatalf("after a restart: %q", got)
	}
}

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
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/qasmat/qasmat/roles/storage"
	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/transport/wire"
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
	url, out, _ := startDevStop(t, o)
	return url, out
}

// startDevStop is startDev that also returns a function stopping the
// cluster before the test ends (to read its stores).
func startDevStop(t testing.TB, o Options) (string, *syncBuffer, func()) {
	t.Helper()
	out := &syncBuffer{}
	o.Out, o.Port, o.Logger = out, 0, slog.New(slog.DiscardHandler)
	if o.DataDir == "" {
		o.DataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, o) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("dev cluster: %v", err)
			}
		})
	}
	t.Cleanup(stop)
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
	return url, out, stop
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

// What travels inside the Noise channel, captured beneath the QKD layer: in
// a Noise-only cluster each PutChunk carries exactly the share chunk the
// server stores; with QKD transit (AES or OTP) it carries a sealed payload
// in which the stored share does not appear.
func TestQKDWireDiffersFromNoiseOnly(t *testing.T) {
	for _, mode := range []string{"", "AES", "OTP"} {
		t.Run("mode="+mode, func(t *testing.T) {
			dir := t.TempDir()
			var mu sync.Mutex
			wire0 := map[string][]byte{} // chunk 0 of each server, as sent
			url, _, stop := startDevStop(t, Options{Storages: 3, KMS: mode, DataDir: dir,
				Storage: func(so *storage.Options) {
					name := so.Name
					so.Observe = func(m wire.Message) {
						if pc, ok := m.(*wire.PutChunk); ok && pc.Index == 0 {
							mu.Lock()
							wire0[name] = bytes.Clone(pc.Data)
							mu.Unlock()
						}
					}
				}})
			data := make([]byte, 1_500_000)
			rand.Read(data)
			protect(t, url, "w.bin", data)
			stop()
			for _, name := range []string{"storage-1", "storage-2", "storage-3"} {
				ss, err := store.OpenShareStore(filepath.Join(dir, name, "shares"))
				if err != nil {
					t.Fatal(err)
				}
				ids, err := ss.Files()
				if err != nil || len(ids) != 1 {
					t.Fatalf("%s holds %v (%v), want one file", name, ids, err)
				}
				stored, err := ss.GetChunk(ids[0], 0, 0)
				ss.Close()
				if err != nil {
					t.Fatal(err)
				}
				sent := wire0[name]
				if mode == "" {
					if !bytes.Equal(sent, stored) {
						t.Fatalf("%s: Noise-only PutChunk does not carry the stored share", name)
					}
					continue
				}
				// Past the 12-byte header, any 64 bytes of share would be
				// recognisable in the message if it were not sealed.
				if bytes.Equal(sent, stored) || bytes.Contains(sent, stored[12:76]) || bytes.Contains(sent, stored[len(stored)-64:]) {
					t.Fatalf("%s: the share is visible beneath the QKD layer", name)
				}
			}
		})
	}
}

// A sealed share altered inside the Noise channel is refused by the storage
// server: the protect fails with an error that says so, nothing is listed,
// and the next protect works.
func TestQKDTamperedShareRefused(t *testing.T) {
	var tampered sync.Once
	url, _ := startDev(t, Options{Storages: 3, KMS: "AES",
		Storage: func(so *storage.Options) {
			if so.Name != "storage-2" {
				return
			}
			so.Observe = func(m wire.Message) {
				if pc, ok := m.(*wire.PutChunk); ok {
					tampered.Do(func() { pc.Data[len(pc.Data)/2] ^= 0x01 })
				}
			}
		}})
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("threshold", "2")
	fw, _ := mw.CreateFormFile("file", "t.bin")
	fw.Write(bytes.Repeat([]byte("tamper me "), 50_000))
	mw.Close()
	resp, err := http.Post(url+"/api/file/protect", mw.FormDataContentType(), &body)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(msg), "storage-2") || !strings.Contains(string(msg), "QKD") {
		t.Fatalf("protect with a tampered sealed share: HTTP %d %s; want 503 naming storage-2 and the QKD check", resp.StatusCode, msg)
	}
	var env struct {
		Data struct {
			Files []any `json:"files"`
		} `json:"data"`
	}
	if err := getJSON(url+"/api/file", &env); err != nil || len(env.Data.Files) != 0 {
		t.Fatalf("files after the refused protect: %v %v", env.Data.Files, err)
	}
	data := []byte("untouched this time")
	protect(t, url, "ok.txt", data)
	if got := retrieve(t, url, "ok.txt"); !bytes.Equal(got, data) {
		t.Fatal("retrieve after the refusal")
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

package webui

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetricsExposed(t *testing.T) {
	reg := prometheus.NewRegistry()
	svc := newFake()
	opts := publicOpts()
	opts.Registerer = reg
	h, _ := testRouter(t, svc, opts)
	wantSuccess(t, protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "2"}, part{name: "file", filename: "a", value: "12345"}).do(h))
	wantError(t, protectReq(t, "/api/file/protect", alice,
		part{name: "threshold", value: "x"}, part{name: "file", filename: "b", value: "1"}).do(h), 400, msgThreshold)
	if w := form("/api/file/retrieve", alice, "name", "a").do(h); w.Code != 200 {
		t.Fatal(w.Code)
	}
	svc.removeErr = Errorf(ErrUnavailable, "s2 is not connected")
	form("/api/file/remove", alice, "name", "a").do(h)

	w := get("/metrics", "").do(h)
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %q", w.Code, w.Header().Get("Content-Type"))
	}
	body := w.Body.String()
	for _, want := range []string{
		`qasmat_file_operations_total{operation="protect",outcome="success"} 1`,
		`qasmat_file_operations_total{operation="protect",outcome="client_error"} 1`,
		`qasmat_file_operations_total{operation="retrieve",outcome="success"} 1`,
		`qasmat_file_operations_total{operation="remove",outcome="unavailable"} 1`,
		`qasmat_file_bytes_received_total 5`,
		`qasmat_file_bytes_sent_total 5`,
		`qasmat_file_operation_duration_seconds_count{operation="protect",outcome="success"} 1`,
		`qasmat_http_requests_total{code="200",method="POST",route="/api/file/protect"} 1`,
		`qasmat_http_request_duration_seconds_bucket{route="/api/file/protect"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The same registry cannot take a second router's metrics.
	if _, err := NewRouter(svc, opts); err == nil {
		t.Error("second registration on one registry succeeded")
	}
}

func TestAbortedRetrieveCounted(t *testing.T) {
	svc := newFake()
	svc.put(alice, "a", make([]byte, 1000))
	svc.lateErrAfter = 10
	reg := prometheus.NewRegistry()
	opts := publicOpts()
	opts.Registerer = reg
	h, _ := testRouter(t, svc, opts)
	func() {
		defer func() {
			if p := recover(); p == nil {
				t.Error("no abort panic reached net/http")
			}
		}()
		form("/api/file/retrieve", alice, "name", "a").do(h)
	}()
	if w := get("/metrics", "").do(h); !strings.Contains(w.Body.String(), `qasmat_file_operations_total{operation="retrieve",outcome="aborted"} 1`) {
		t.Fatal("aborted retrieve not counted")
	}
}

// The access log names routes and codes, never identities or file bytes.
func TestAccessLogHasNoSecrets(t *testing.T) {
	svc := newFake()
	h, logs := testRouter(t, svc, privateOpts())
	const content = "TOP-SECRET-CONTENT-42"
	wantSuccess(t, protectReq(t, "/api/file/protect", "carol.secret@example.com",
		part{name: "threshold", value: "2"}, part{name: "file", filename: "f", value: content}).do(h))
	form("/api/file/retrieve", "carol.secret@example.com", "name", "f").do(h)
	out := logs.String()
	if !strings.Contains(out, "route=/api/file/protect") || !strings.Contains(out, "status=200") {
		t.Fatalf("access log lacks the request: %s", out)
	}
	for _, secret := range []string{"carol.secret", content} {
		if strings.Contains(out, secret) {
			t.Fatalf("log holds %q: %s", secret, out)
		}
	}
}

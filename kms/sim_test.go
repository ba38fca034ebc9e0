package kms

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

var ctx = context.Background()

func TestStatusFields(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 4096, KeySize: 256, MaxKeySize: 1024, MaxKeyPerRequest: 10, MaxSAEIDCount: 3})
	st, err := k.client("proxy").Status(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := Status{SourceKMEID: "qasmat-kme-a", TargetKMEID: "qasmat-kme-b", MasterSAEID: "proxy", SlaveSAEID: "s1",
		KeySize: 256, StoredKeyCount: 16, MaxKeyCount: 16, MaxKeyPerRequest: 10, MaxKeySize: 1024, MinKeySize: 64, MaxSAEIDCount: 3}
	if *st != want {
		t.Fatalf("status = %+v, want %+v", *st, want)
	}
	if _, err := k.client("proxy").GetEncKeys(ctx, "s1", 2, 512); err != nil {
		t.Fatal(err)
	}
	st, _ = k.client("s1").Status(ctx, "proxy") // the same link seen from the other end
	if st.StoredKeyCount != 12 {
		t.Errorf("stored_key_count after 1024 bits = %d, want 12", st.StoredKeyCount)
	}
}

func TestKeyDeliveredOnceToItsSlave(t *testing.T) {
	k := newTestKME(t, SimOptions{})
	enc, err := k.client("proxy").GetEncKeys(ctx, "s1", 3, 256)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{enc[2].KeyID, enc[0].KeyID, enc[1].KeyID}
	dec, err := k.client("s1").GetDecKeys(ctx, "proxy", ids)
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range dec {
		if d.KeyID != ids[i] {
			t.Fatalf("key %d: ID %s, want %s", i, d.KeyID, ids[i])
		}
	}
	if !bytes.Equal(dec[0].Key, enc[2].Key) || !bytes.Equal(dec[1].Key, enc[0].Key) || len(dec[0].Key) != 32 {
		t.Fatal("dec_keys gave other bytes than enc_keys")
	}
	if bytes.Equal(enc[0].Key, enc[1].Key) {
		t.Fatal("two keys are equal")
	}
	_, err = k.client("s1").GetDecKeys(ctx, "proxy", ids[:1])
	if !errors.Is(wantCode(t, err, 400), ErrBadRequest) {
		t.Fatal("not ErrBadRequest")
	}
}

func TestWrongSAECannotFetch(t *testing.T) {
	k := newTestKME(t, SimOptions{})
	enc, err := k.client("proxy").GetEncKeys(ctx, "s1", 1, 256)
	if err != nil {
		t.Fatal(err)
	}
	id := []string{enc[0].KeyID}
	_, err = k.client("s2").GetDecKeys(ctx, "proxy", id)
	wantCode(t, err, 400)
	_, err = k.client("proxy").GetDecKeys(ctx, "proxy", id) // the master itself is no slave
	wantCode(t, err, 400)
	_, err = k.client("s1").GetDecKeys(ctx, "s2", id) // the right slave naming the wrong master
	wantCode(t, err, 400)
	// Failed attempts consume nothing: the right slave still gets it.
	dec, err := k.client("s1").GetDecKeys(ctx, "proxy", id)
	if err != nil || !bytes.Equal(dec[0].Key, enc[0].Key) {
		t.Fatalf("right slave after wrong attempts: %v", err)
	}
}

func TestDecKeysAllOrNothing(t *testing.T) {
	k := newTestKME(t, SimOptions{})
	enc, _ := k.client("proxy").GetEncKeys(ctx, "s1", 1, 256)
	_, err := k.client("s1").GetDecKeys(ctx, "proxy", []string{enc[0].KeyID, "00000000-0000-4000-8000-000000000000"})
	wantCode(t, err, 400)
	if _, err := k.client("s1").GetDecKeys(ctx, "proxy", []string{enc[0].KeyID}); err != nil {
		t.Fatalf("a key of a refused batch was consumed: %v", err)
	}
}

func TestAdditionalSlaves(t *testing.T) {
	k := newTestKME(t, SimOptions{})
	enc, err := k.client("proxy").GetEncKeys(ctx, "s1", 1, 256, "s2")
	if err != nil {
		t.Fatal(err)
	}
	id := []string{enc[0].KeyID}
	for _, sae := range []string{"s2", "s1"} {
		dec, err := k.client(sae).GetDecKeys(ctx, "proxy", id)
		if err != nil || !bytes.Equal(dec[0].Key, enc[0].Key) {
			t.Fatalf("%s: %v", sae, err)
		}
		_, err = k.client(sae).GetDecKeys(ctx, "proxy", id)
		wantCode(t, err, 400)
	}
}

func TestPoolEmptyIs503AtOnce(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 512, Rate: 0})
	c := k.client("proxy")
	if _, err := c.GetEncKeys(ctx, "s1", 2, 256); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := c.GetEncKeys(ctx, "s1", 1, 256)
	ae := wantCode(t, err, 503)
	if !errors.Is(err, ErrKeyPoolEmpty) || !strings.Contains(ae.Error(), "QKD key manager at "+k.addr+": 503 key pool empty") {
		t.Fatalf("error %q is not the clear pool-empty error", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("503 took %v", d)
	}
	// Another link has its own pool.
	if _, err := c.GetEncKeys(ctx, "s2", 1, 256); err != nil {
		t.Fatalf("other link: %v", err)
	}
}

// fakeClock is a settable clock for the rate and lifetime tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func TestRateRefillsPool(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	k := newTestKME(t, SimOptions{PoolBits: 1024, Rate: 256, Now: clk.Now})
	c := k.client("proxy")
	if _, err := c.GetEncKeys(ctx, "s1", 4, 256); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetEncKeys(ctx, "s1", 1, 256)
	wantCode(t, err, 503)
	clk.Add(1500 * time.Millisecond) // 384 bits: one key of 256
	if _, err := c.GetEncKeys(ctx, "s1", 1, 256); err != nil {
		t.Fatalf("after 1.5 s at 256 bit/s: %v", err)
	}
	_, err = c.GetEncKeys(ctx, "s1", 1, 256)
	wantCode(t, err, 503)
	clk.Add(time.Hour) // the pool is bounded
	st, _ := c.Status(ctx, "s1")
	if st.StoredKeyCount != 4 {
		t.Fatalf("stored_key_count after an hour = %d, want the bound 4", st.StoredKeyCount)
	}
}

func TestKeyLifetime(t *testing.T) {
	clk := &fakeClock{now: time.Unix(1_700_000_000, 0)}
	k := newTestKME(t, SimOptions{KeyLifetime: time.Minute, Now: clk.Now})
	enc, _ := k.client("proxy").GetEncKeys(ctx, "s1", 2, 256)
	clk.Add(59 * time.Second)
	if _, err := k.client("s1").GetDecKeys(ctx, "proxy", []string{enc[0].KeyID}); err != nil {
		t.Fatalf("within lifetime: %v", err)
	}
	clk.Add(2 * time.Second)
	_, err := k.client("s1").GetDecKeys(ctx, "proxy", []string{enc[1].KeyID})
	wantCode(t, err, 400)

	// Keys nobody asked for are swept when the simulator opens.
	if _, err := k.client("proxy").GetEncKeys(ctx, "s1", 3, 256); err != nil {
		t.Fatal(err)
	}
	k.stop()
	clk.Add(2 * time.Minute)
	k.start()
	if n, err := k.sim.pendingKeys(); err != nil || n != 0 {
		t.Fatalf("%d expired keys kept after a restart (%v)", n, err)
	}
}

func TestBadNumberOrSizeIs400(t *testing.T) {
	k := newTestKME(t, SimOptions{MaxKeySize: 1024, MaxKeyPerRequest: 4, MaxSAEIDCount: 1})
	c := k.client("proxy")
	cases := []struct {
		name         string
		number, size int
		extra        []string
	}{
		{"size not a multiple of 8", 1, 260, nil},
		{"size over max_key_size", 1, 2048, nil},
		{"size under min_key_size", 1, 32, nil},
		{"number over max_key_per_request", 5, 256, nil},
		{"too many additional slaves", 1, 256, []string{"s2", "x"}},
		{"additional slave is the master", 1, 256, []string{"proxy"}},
	}
	for _, tc := range cases {
		_, err := c.GetEncKeys(ctx, "s1", tc.number, tc.size, tc.extra...)
		if ae := wantCode(t, err, 400); ae.Message == "" {
			t.Errorf("%s: empty message", tc.name)
		}
	}
	_, err := c.GetEncKeys(ctx, "proxy", 1, 256)
	wantCode(t, err, 400)
	// Nothing was consumed by the refused requests.
	if st, _ := c.Status(ctx, "s1"); st.StoredKeyCount != st.MaxKeyCount {
		t.Fatalf("refused requests consumed key material: %+v", st)
	}
}

func TestNoClientCertificateIs401(t *testing.T) {
	k := newTestKME(t, SimOptions{})
	c := k.client("")
	_, err := c.Status(ctx, "s1")
	if !errors.Is(wantCode(t, err, 401), ErrUnauthorized) {
		t.Fatal("not ErrUnauthorized")
	}
	_, err = c.GetEncKeys(ctx, "s1", 1, 256)
	wantCode(t, err, 401)
	_, err = c.GetDecKeys(ctx, "proxy", []string{"00000000-0000-4000-8000-000000000000"})
	wantCode(t, err, 401)
}

func TestCertificateFromAnotherCARefused(t *testing.T) {
	k := newTestKME(t, SimOptions{})
	other := newTestKME(t, SimOptions{})
	tc := k.tlsFor("")
	tc.Certificates = other.tlsFor("proxy").Certificates
	_, err := NewClient(k.addr, tc).Status(ctx, "s1")
	if err == nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a certificate from another CA: %v, want a TLS failure", err)
	}
}

func TestRestartKeepsState(t *testing.T) {
	k := newTestKME(t, SimOptions{PoolBits: 768, Rate: 0})
	enc, err := k.client("proxy").GetEncKeys(ctx, "s1", 2, 256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.client("s1").GetDecKeys(ctx, "proxy", []string{enc[0].KeyID}); err != nil {
		t.Fatal(err)
	}
	k.restart()
	_, err = k.client("s1").GetDecKeys(ctx, "proxy", []string{enc[0].KeyID})
	wantCode(t, err, 400)
	dec, err := k.client("s1").GetDecKeys(ctx, "proxy", []string{enc[1].KeyID})
	if err != nil || !bytes.Equal(dec[0].Key, enc[1].Key) {
		t.Fatalf("undelivered key after restart: %v", err)
	}
	// The pool debit survived too: 256 bits left.
	if _, err := k.client("proxy").GetEncKeys(ctx, "s1", 1, 256); err != nil {
		t.Fatal(err)
	}
	_, err = k.client("proxy").GetEncKeys(ctx, "s1", 1, 256)
	wantCode(t, err, 503)
}

func TestUUIDForm(t *testing.T) {
	for range 100 {
		u := newUUID()
		if len(u) != 36 || u[14] != '4' || !strings.ContainsAny(u[19:20], "89ab") || strings.Count(u, "-") != 4 {
			t.Fatalf("%q is not a version 4 UUID", u)
		}
	}
}

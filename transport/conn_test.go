package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// pattern returns n deterministic bytes that differ between seeds, so a
// misplaced fragment cannot go unnoticed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func TestCallBothDirections(t *testing.T) {
	storage, proxy := defaultPair(t)
	serve(proxy, func(_ context.Context, req []byte) ([]byte, error) { return append([]byte("proxy:"), req...), nil })
	serve(storage, func(_ context.Context, req []byte) ([]byte, error) { return append([]byte("storage:"), req...), nil })
	ctx := testContext(t)
	if r, err := storage.Call(ctx, []byte("a")); err != nil || string(r) != "proxy:a" {
		t.Fatalf("storage -> proxy: %q, %v", r, err)
	}
	if r, err := proxy.Call(ctx, []byte("b")); err != nil || string(r) != "storage:b" {
		t.Fatalf("proxy -> storage: %q, %v", r, err)
	}
	if r, err := proxy.Call(ctx, nil); err != nil || r == nil || len(r) != len("storage:") {
		t.Fatalf("empty request: %q, %v", r, err)
	}
}

func TestRequestsBeforeServeWait(t *testing.T) {
	storage, proxy := defaultPair(t)
	errc := make(chan error, 1)
	go func() {
		r, err := storage.Call(testContext(t), []byte("hello"))
		if err == nil && string(r) != "hello" {
			err = fmt.Errorf("reply %q", r)
		}
		errc <- err
	}()
	serve(proxy, echo)
	if err := recvErr(t, errc, "Call"); err != nil {
		t.Fatal(err)
	}
	if err := proxy.Serve(echo); err == nil || errors.Is(err, ErrClosed) {
		t.Fatalf("second Serve: %v, want a refusal", err)
	}
}

func TestFragmentationReassemblesExactly(t *testing.T) {
	storage, proxy := defaultPair(t)
	serve(storage, func(_ context.Context, req []byte) ([]byte, error) {
		// Reply with a different message of the same size to check both directions.
		out := make([]byte, len(req))
		for i := range req {
			out[i] = ^req[i]
		}
		return out, nil
	})
	sizes := []int{0, 1, maxFragment - 1, maxFragment, maxFragment + 1, 2 * maxFragment, 12 + 1<<20, 1<<20 + 12 + 40, DefaultMaxMessageSize}
	for i, n := range sizes {
		req := pattern(n, byte(i))
		reply, err := proxy.Call(testContext(t), req)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if len(reply) != n {
			t.Fatalf("%d bytes: reply has %d", n, len(reply))
		}
		for j := range reply {
			if reply[j] != ^req[j] {
				t.Fatalf("%d bytes: reply differs at byte %d", n, j)
			}
		}
	}
}

func TestConcurrentCallsWithMixedSizes(t *testing.T) {
	storage, proxy := defaultPair(t)
	serve(storage, echo)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n := []int{0, 7, 1000, maxFragment + 3, 300_000, 1<<20 + 12}[i%6]
			req := pattern(n, byte(i))
			reply, err := proxy.Call(testContext(t), req)
			if err == nil && !bytes.Equal(reply, req) {
				err = fmt.Errorf("call %d (%d bytes): reply differs", i, n)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func TestSlowHandlerDoesNotBlockFastCalls(t *testing.T) {
	storage, proxy := defaultPair(t)
	release := make(chan struct{})
	slowStarted := make(chan struct{})
	serve(storage, func(_ context.Context, req []byte) ([]byte, error) {
		if string(req) == "slow" {
			close(slowStarted)
			<-release
		}
		return req, nil
	})
	slowDone := make(chan error, 1)
	go func() {
		_, err := proxy.Call(testContext(t), []byte("slow"))
		slowDone <- err
	}()
	await(t, slowStarted, "slowStarted")
	// With the slow request still running, many fast ones complete, more
	// than the in-flight limit: each fast call frees its slot.
	for i := range 3 * DefaultMaxInflight {
		req := []byte(fmt.Sprintf("fast %d", i))
		if r, err := proxy.Call(testContext(t), req); err != nil || !bytes.Equal(r, req) {
			t.Fatalf("fast call %d: %q, %v", i, r, err)
		}
	}
	select {
	case err := <-slowDone:
		t.Fatalf("slow call finished before its handler was released: %v", err)
	default:
	}
	close(release)
	if err := recvErr(t, slowDone, "slow call"); err != nil {
		t.Fatal(err)
	}
}

// gatedConn lets the test hold and release each write after the handshake.
type gatedConn struct {
	net.Conn
	gated   atomic.Bool
	permits chan struct{}
	waiting chan struct{}
}

func (g *gatedConn) Write(b []byte) (int, error) {
	if g.gated.Load() {
		g.waiting <- struct{}{}
		<-g.permits
	}
	return g.Conn.Write(b)
}

// gatedPair is pair with the client's writes under the test's control.
func gatedPair(t *testing.T, serverCfg Config) (client, server *Conn, g *gatedConn) {
	t.Helper()
	l := listen(t, serverCfg)
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	g = &gatedConn{Conn: raw, permits: make(chan struct{}), waiting: make(chan struct{}, 1)}
	acc := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	client, err = Client(testContext(t), g, Config{Static: newKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = await(t, acc, "Accept")
	t.Cleanup(func() { server.Close() })
	return client, server, g
}

// open lets every further write through.
func (g *gatedConn) open(done <-chan struct{}) {
	g.gated.Store(false)
	go func() {
		for {
			select {
			case <-g.waiting:
				g.permits <- struct{}{}
			case <-done:
				return
			}
		}
	}()
}

func TestFramesOfConcurrentMessagesInterleave(t *testing.T) {
	client, server, g := gatedPair(t, Config{Static: newKey(t)})
	serve(server, echo)

	g.gated.Store(true)
	big := pattern(40*maxFragment, 1)
	bigDone := make(chan error, 1)
	go func() {
		r, err := client.Call(testContext(t), big)
		if err == nil && !bytes.Equal(r, big) {
			err = errors.New("big reply differs")
		}
		bigDone <- err
	}()
	await(t, g.waiting, "g.waiting") // the big message's first frame is being written
	smallDone := make(chan error, 1)
	go func() {
		_, err := client.Call(testContext(t), []byte("small"))
		smallDone <- err
	}()
	waitFor(t, "the small frame waiting for the write lock", func() bool { return client.wlock.waiting() == 1 })
	g.permits <- struct{}{} // big frame 1
	await(t, g.waiting, "g.waiting")
	g.permits <- struct{}{} // the next frame must be the small message
	// The small call completes while the big message has 39 frames to go,
	// all of them held: only interleaving lets it through.
	if err := recvErr(t, smallDone, "small call behind a big message"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-bigDone:
		t.Fatalf("big call finished with its frames held: %v", err)
	default:
	}
	g.open(client.Done())
	if err := recvErr(t, bigDone, "big call"); err != nil {
		t.Fatal(err)
	}
}

func TestInflightLimitQueuesCalls(t *testing.T) {
	storage, proxy := defaultPair(t)
	var running, peak atomic.Int32
	entered := make(chan struct{}, 64)
	release := make(chan struct{})
	serve(storage, func(_ context.Context, req []byte) ([]byte, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		entered <- struct{}{}
		<-release
		running.Add(-1)
		return req, nil
	})
	const calls = 3 * DefaultMaxInflight
	errs := make(chan error, calls)
	for range calls {
		go func() {
			_, err := proxy.Call(testContext(t), []byte("x"))
			errs <- err
		}()
	}
	for range DefaultMaxInflight {
		await(t, entered, "entered")
	}
	close(release)
	for range calls {
		if err := recvErr(t, errs, "call"); err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p != DefaultMaxInflight {
		t.Fatalf("peak concurrent handlers %d, want the limit %d", p, DefaultMaxInflight)
	}
	if storage.Err() != nil {
		t.Fatalf("connection closed: %v", storage.Err())
	}
}

func TestInflightLimitIsNegotiated(t *testing.T) {
	// The listener runs 2 requests at once; the dialer would allow 8.
	storage, proxy := pair(t, Config{Static: newKey(t), MaxInflight: 2}, Config{Static: newKey(t)})
	if cap(storage.slots) != 2 || cap(proxy.slots) != 2 {
		t.Fatalf("slots %d and %d, want 2 on both sides", cap(storage.slots), cap(proxy.slots))
	}
}

func TestPeerExceedingInflightLimitIsDisconnected(t *testing.T) {
	storage, proxy := defaultPair(t)
	block := make(chan struct{})
	defer close(block)
	serve(storage, func(context.Context, []byte) ([]byte, error) { <-block; return nil, nil })
	// A misbehaving proxy that ignores the storage server's limit.
	proxy.slots = make(chan struct{}, DefaultMaxInflight+1)
	errs := make(chan error, DefaultMaxInflight+1)
	for range DefaultMaxInflight + 1 {
		go func() {
			_, err := proxy.Call(testContext(t), []byte("x"))
			errs <- err
		}()
	}
	for range DefaultMaxInflight + 1 {
		if err := recvErr(t, errs, "call"); !errors.Is(err, ErrClosed) {
			t.Fatalf("call: %v; want ErrClosed", err)
		}
	}
	waitDone(t, storage, "storage side")
	if err := storage.Err(); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "concurrent requests") {
		t.Fatalf("storage side closed with %v; want a protocol violation about concurrent requests", err)
	}
	if err := proxy.Err(); err == nil || !strings.Contains(err.Error(), "concurrent requests") {
		t.Fatalf("proxy side closed with %v; want the peer's reason", err)
	}
}

func TestOversizeMessageClosesConnection(t *testing.T) {
	storage, proxy := defaultPair(t)
	serve(storage, echo)
	// The proxy follows its own limit: too large is refused locally.
	_, err := proxy.Call(testContext(t), make([]byte, DefaultMaxMessageSize+1))
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Call over the peer's limit: %v; want ErrMessageTooLarge", err)
	}
	if _, err := proxy.Call(testContext(t), []byte("still open")); err != nil {
		t.Fatalf("connection unusable after a refused Call: %v", err)
	}
	// A peer that ignores the limit is disconnected.
	proxy.maxSend = 2 * DefaultMaxMessageSize
	_, err = proxy.Call(testContext(t), make([]byte, DefaultMaxMessageSize+1))
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("oversize Call: %v; want ErrClosed", err)
	}
	waitDone(t, storage, "receiving side")
	if err := storage.Err(); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "message limit") {
		t.Fatalf("receiving side closed with %v; want a protocol violation about the limit", err)
	}
	waitDone(t, proxy, "sending side")
}

func TestOversizeReplyIsAnErrorNotAViolation(t *testing.T) {
	storage, proxy := pair(t, Config{Static: newKey(t), MaxMessageSize: 1 << 20}, Config{Static: newKey(t)})
	serve(storage, func(context.Context, []byte) ([]byte, error) { return make([]byte, 1<<20+1), nil })
	_, err := proxy.Call(testContext(t), []byte("x"))
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Message, "exceeds") {
		t.Fatalf("Call: %v; want a RemoteError about the reply size", err)
	}
	if proxy.Err() != nil {
		t.Fatalf("connection closed: %v", proxy.Err())
	}
}

func TestCloseFailsPendingCalls(t *testing.T) {
	storage, proxy := defaultPair(t)
	entered := make(chan struct{}, 3)
	serve(storage, func(ctx context.Context, _ []byte) ([]byte, error) {
		entered <- struct{}{}
		<-ctx.Done() // cancelled when the connection closes
		return nil, ctx.Err()
	})
	serveErr := make(chan error, 1)
	go func() { serveErr <- proxy.Serve(echo) }()
	errs := make(chan error, 3)
	for range 3 {
		go func() {
			_, err := proxy.Call(testContext(t), []byte("x"))
			errs <- err
		}()
	}
	for range 3 {
		await(t, entered, "entered")
	}
	proxy.Close()
	for range 3 {
		if err := recvErr(t, errs, "pending call"); !errors.Is(err, ErrClosed) {
			t.Fatalf("pending call: %v; want ErrClosed", err)
		}
	}
	if err := recvErr(t, serveErr, "Serve"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve returned %v; want ErrClosed", err)
	}
	if _, err := proxy.Call(testContext(t), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close: %v; want ErrClosed", err)
	}
	waitDone(t, storage, "peer of a closed connection")
	if err := storage.Err(); err == nil || !strings.Contains(err.Error(), "closed by the peer") {
		t.Fatalf("peer closed with %v", err)
	}
}

func TestCancelledCallFreesItsSlot(t *testing.T) {
	storage, proxy := pair(t, Config{Static: newKey(t), MaxInflight: 1}, Config{Static: newKey(t)})
	handlerCancelled := make(chan struct{})
	entered := make(chan struct{}, 1)
	serve(storage, func(ctx context.Context, req []byte) ([]byte, error) {
		if string(req) == "wait" {
			entered <- struct{}{}
			<-ctx.Done()
			close(handlerCancelled)
			return nil, ctx.Err()
		}
		return req, nil
	})
	ctx, cancel := context.WithCancel(testContext(t))
	errc := make(chan error, 1)
	go func() {
		_, err := proxy.Call(ctx, []byte("wait"))
		errc <- err
	}()
	await(t, entered, "entered")
	cancel()
	if err := recvErr(t, errc, "cancelled call"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v; want context.Canceled", err)
	}
	await(t, handlerCancelled, "handlerCancelled") // the peer's handler saw the cancellation
	// With one slot in all, this call runs only if the slot was freed.
	if r, err := proxy.Call(testContext(t), []byte("next")); err != nil || string(r) != "next" {
		t.Fatalf("call after cancellation: %q, %v", r, err)
	}
}

func TestLateReplyIsDropped(t *testing.T) {
	storage, proxy := defaultPair(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	replied := make(chan struct{})
	serve(storage, func(_ context.Context, req []byte) ([]byte, error) {
		if string(req) == "stubborn" {
			entered <- struct{}{}
			<-release // ignores cancellation
			defer close(replied)
			return []byte("late"), nil
		}
		return req, nil
	})
	ctx, cancel := context.WithCancel(testContext(t))
	errc := make(chan error, 1)
	go func() {
		_, err := proxy.Call(ctx, []byte("stubborn"))
		errc <- err
	}()
	await(t, entered, "entered")
	cancel()
	if err := recvErr(t, errc, "cancelled call"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v", err)
	}
	if r, err := proxy.Call(testContext(t), []byte("meanwhile")); err != nil || string(r) != "meanwhile" {
		t.Fatalf("call while the cancelled one runs: %q, %v", r, err)
	}
	close(release)
	await(t, replied, "replied")
	// The late reply arrives and is dropped: no violation, no stray result.
	for i := range 3 {
		req := []byte(fmt.Sprintf("after %d", i))
		if r, err := proxy.Call(testContext(t), req); err != nil || !bytes.Equal(r, req) {
			t.Fatalf("call after the late reply: %q, %v", r, err)
		}
	}
	if proxy.Err() != nil || storage.Err() != nil {
		t.Fatalf("connection closed: %v / %v", proxy.Err(), storage.Err())
	}
}

func TestCancelHalfSentRequest(t *testing.T) {
	proxy, storage, g := gatedPair(t, Config{Static: newKey(t), MaxInflight: 1})
	var handled atomic.Int32
	serve(storage, func(_ context.Context, req []byte) ([]byte, error) { handled.Add(1); return req, nil })
	ctx, cancel := context.WithCancel(testContext(t))
	errc := make(chan error, 1)
	g.gated.Store(true)
	go func() {
		_, err := proxy.Call(ctx, make([]byte, 3<<20))
		errc <- err
	}()
	await(t, g.waiting, "g.waiting") // first frame of the request
	cancel()
	g.permits <- struct{}{}
	if err := recvErr(t, errc, "cancelled call"); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled call: %v; want context.Canceled", err)
	}
	g.open(proxy.Done())
	// The only slot frees once the peer acknowledges the abandoned request.
	if r, err := proxy.Call(testContext(t), []byte("next")); err != nil || string(r) != "next" {
		t.Fatalf("call after an abandoned request: %q, %v", r, err)
	}
	if n := handled.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want once (the abandoned request must not run)", n)
	}
	if proxy.Err() != nil || storage.Err() != nil {
		t.Fatalf("connection closed: %v / %v", proxy.Err(), storage.Err())
	}
}

func TestHandlerErrorsReachTheCaller(t *testing.T) {
	storage, proxy := defaultPair(t)
	serve(storage, func(_ context.Context, req []byte) ([]byte, error) {
		switch string(req) {
		case "fail":
			return nil, errors.New("disk on fire")
		case "panic":
			panic("bug")
		}
		return req, nil
	})
	var re *RemoteError
	if _, err := proxy.Call(testContext(t), []byte("fail")); !errors.As(err, &re) || re.Message != "disk on fire" {
		t.Fatalf("failing handler: %v", err)
	}
	if _, err := proxy.Call(testContext(t), []byte("panic")); !errors.As(err, &re) || !strings.Contains(re.Message, "handler panic: bug") {
		t.Fatalf("panicking handler: %v", err)
	}
	if r, err := proxy.Call(testContext(t), []byte("ok")); err != nil || string(r) != "ok" {
		t.Fatalf("after handler failures: %q, %v", r, err)
	}
}

// stuckConn stops reading after the handshake, like a frozen peer.
type stuckConn struct {
	net.Conn
	stuck atomic.Bool
	hold  chan struct{}
}

func (s *stuckConn) Read(b []byte) (int, error) {
	if s.stuck.Load() {
		<-s.hold
		return 0, net.ErrClosed
	}
	return s.Conn.Read(b)
}

// stuckPeer returns the server end of a connection whose client has stopped
// reading: the server's writes stall once the socket buffers are full.
func stuckPeer(t *testing.T, writeTimeout time.Duration) *Conn {
	t.Helper()
	l := listen(t, Config{Static: newKey(t), WriteTimeout: writeTimeout, MaxMessageSize: 16 << 20})
	raw, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := &stuckConn{Conn: raw, hold: make(chan struct{})}
	t.Cleanup(func() { close(s.hold) })
	acc := make(chan *Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			t.Error(err)
		}
		acc <- c
	}()
	client, err := Client(testContext(t), s, Config{Static: newKey(t), MaxMessageSize: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server := await(t, acc, "Accept")
	t.Cleanup(func() { server.Close() })
	// The bufio reader may hold bytes already read; from now on nothing is.
	s.stuck.Store(true)
	return server
}

func TestWriteTimeoutNoticesDeadPeer(t *testing.T) {
	server := stuckPeer(t, 200*time.Millisecond)
	// Far more than the socket buffers hold: the writes must stall.
	for range DefaultMaxInflight {
		go server.Call(testContext(t), make([]byte, 16<<20))
	}
	waitDone(t, server, "server writing to a peer that reads nothing")
	if err := server.Err(); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("closed with %v; want a write timeout", err)
	}
}

// A call whose deadline passes while its frame waits behind a frame stuck
// on a dead link fails at its deadline, not at the write timeout: this is
// how the proxy's ping notices a link cut during a transfer.
func TestDeadlineWhileWaitingBehindStuckWrite(t *testing.T) {
	server := stuckPeer(t, time.Minute)
	go server.Call(testContext(t), make([]byte, 16<<20)) // fills the socket buffers, then blocks
	waitFor(t, "the big write to take the write lock", func() bool {
		server.wlock.mu.Lock()
		defer server.wlock.mu.Unlock()
		return server.wlock.held
	})
	time.Sleep(300 * time.Millisecond) // let the buffers fill
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := server.Call(ctx, []byte("ping"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping behind a stuck write: %v, want its deadline", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("ping gave up after %v; its deadline was 300ms", d)
	}
	if server.Err() != nil {
		t.Fatalf("the connection closed (%v); only the ping should have failed", server.Err())
	}
}

// sendRawFrame writes one frame as a misbehaving peer would.
func sendRawFrame(t *testing.T, c *Conn, h frameHeader, payload []byte) {
	t.Helper()
	if !c.wlock.lock(c.done, nil, nil) {
		t.Fatal("connection closed")
	}
	defer c.wlock.unlock()
	if err := c.writeFrame(h, payload, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestBrokenFrameSequencesCloseConnection(t *testing.T) {
	cases := []struct {
		name   string
		frames []frameHeader
		want   string
	}{
		{"fragment without a first one", []frameHeader{{kind: kindRequest, id: 5}}, "not being received"},
		{"reply to no request", []frameHeader{{kind: kindResponse, first: true, id: 5, total: 1}}, "not awaiting one"},
		{"request id reused", []frameHeader{
			{kind: kindRequest, first: true, more: true, id: 5, total: 10},
			{kind: kindRequest, first: true, more: true, id: 5, total: 10},
		}, "reused"},
		{"message shorter than announced", []frameHeader{
			{kind: kindRequest, first: true, more: true, id: 5, total: 10},
			{kind: kindRequest, id: 5},
		}, "ended after 4 of the announced 10 bytes"},
		{"message longer than announced", []frameHeader{
			{kind: kindRequest, first: true, more: true, id: 5, total: 3},
			{kind: kindRequest, id: 5},
		}, "exceed the announced 3 bytes"},
		{"announced size over the limit", []frameHeader{
			{kind: kindRequest, first: true, more: true, id: 5, total: DefaultMaxMessageSize + 1},
		}, "message limit"},
		{"goaway with an id", []frameHeader{{kind: kindGoaway, id: 5}}, "id 0 is for goaway only"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			storage, proxy := defaultPair(t)
			serve(storage, echo)
			for _, h := range tc.frames {
				payload := []byte("ab")
				if h.first && !h.more {
					payload = payload[:h.total]
				}
				sendRawFrame(t, proxy, h, payload)
			}
			waitDone(t, storage, "receiver of broken frames")
			if err := storage.Err(); !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("closed with %v; want a protocol violation mentioning %q", err, tc.want)
			}
			waitDone(t, proxy, "sender of broken frames")
			if err := proxy.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("sender closed with %v; want the goaway reason %q", err, tc.want)
			}
		})
	}
}

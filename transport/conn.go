// Package transport connects the proxy and the storage servers: Noise XX
// over TCP, with many concurrent request/reply exchanges per connection.
package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flynn/noise"
)

// goawayTimeout bounds the best-effort goodbye sent to a peer that broke
// the protocol before the connection is closed.
const goawayTimeout = time.Second

// A Handler answers one request. It runs in its own goroutine; ctx is
// cancelled when the caller gives up or the connection closes. req belongs
// to the handler. The reply is sent after the handler returns (it must not
// change afterwards); a returned error reaches the caller as a *RemoteError
// carrying its text.
type Handler func(ctx context.Context, req []byte) ([]byte, error)

// RemoteError is a failure reported by the peer's handler (its error text),
// or by the peer's transport (for example a reply too large to send).
type RemoteError struct {
	Message string
}

func (e *RemoteError) Error() string { return "transport: peer: " + e.Message }

// errClosedLocally is the reason for a connection closed by Close.
var errClosedLocally = errors.New("closed by this node")

// Conn is an established, authenticated connection. Either side may Call
// and Serve; both are safe for concurrent use.
type Conn struct {
	raw          net.Conn
	br           *bufio.Reader
	cfg          Config
	remoteStatic []byte

	recv  *noise.CipherState // used only by the reader goroutine
	wlock fifoLock           // held to write one frame; guards send and wbuf
	send  *noise.CipherState
	wbuf  []byte // length prefix + frame

	maxSend    int           // the peer's message size limit
	maxInbound int           // requests this side runs at once for the peer
	slots      chan struct{} // one token per own request awaiting its reply
	nextID     atomic.Uint32

	mu       sync.Mutex
	pending  map[uint32]*pendingCall    // own requests awaiting replies
	inbound  map[uint32]*inboundRequest // peer requests being received or run
	closeErr error                      // why the connection closed; nil while open
	handler  Handler

	served chan struct{} // closed when Serve sets the handler
	// ownReplies: replies go back to the buffer pool once written
	// (ServeOwned); set before served is closed.
	ownReplies bool
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	closeOnce  sync.Once
}

type pendingCall struct {
	reply assembly // reader goroutine only
	ch    chan callResult
}

type callResult struct {
	reply []byte
	err   error
}

type inboundRequest struct {
	body       assembly
	dispatched bool
	cancel     context.CancelFunc
}

func newConn(raw net.Conn, br *bufio.Reader, cfg Config, send, recv *noise.CipherState, remoteStatic []byte, peer params) *Conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &Conn{
		raw:          raw,
		br:           br,
		cfg:          cfg,
		remoteStatic: append([]byte(nil), remoteStatic...),
		send:         send,
		recv:         recv,
		wbuf:         make([]byte, 2+noise.MaxMsgLen),
		maxSend:      peer.maxMessage,
		maxInbound:   cfg.MaxInflight,
		slots:        make(chan struct{}, min(cfg.MaxInflight, peer.maxInflight)),
		pending:      make(map[uint32]*pendingCall),
		inbound:      make(map[uint32]*inboundRequest),
		served:       make(chan struct{}),
		ctx:          ctx,
		cancel:       cancel,
		done:         make(chan struct{}),
	}
	go c.readLoop()
	return c
}

// RemoteStatic is the peer's Noise static public key (32 bytes): its identity.
func (c *Conn) RemoteStatic() []byte { return append([]byte(nil), c.remoteStatic...) }

// LocalStatic is this node's static public key.
func (c *Conn) LocalStatic() []byte { return append([]byte(nil), c.cfg.Static.Public...) }

// RemoteAddr is the peer's network address (informative only: peers are
// known by key, never by address).
func (c *Conn) RemoteAddr() net.Addr { return c.raw.RemoteAddr() }

// LocalAddr is this side's network address.
func (c *Conn) LocalAddr() net.Addr { return c.raw.LocalAddr() }

// Done is closed when the connection has closed, for any reason.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err is why the connection closed (nil while it is open): closed by this
// node, by the peer, a write timeout, or an ErrProtocol violation.
func (c *Conn) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeErr
}

// Close closes the connection; pending calls fail with ErrClosed.
func (c *Conn) Close() error {
	c.closeWith(errClosedLocally)
	return nil
}

func (c *Conn) closedError() error {
	return fmt.Errorf("%w: %w", ErrClosed, c.Err())
}

func (c *Conn) closeWith(cause error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closeErr = cause
		pending := c.pending
		c.pending = nil
		c.mu.Unlock()
		c.cancel()
		close(c.done)
		c.raw.Close()
		err := fmt.Errorf("%w: %w", ErrClosed, cause)
		for _, p := range pending {
			p.ch <- callResult{err: err}
		}
	})
}

// violation closes the connection because the peer broke the protocol,
// after telling it why (best effort, bounded by goawayTimeout).
func (c *Conn) violation(format string, args ...any) {
	cause := fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
	t := time.NewTimer(goawayTimeout)
	if c.wlock.lock(c.done, nil, t.C) {
		c.writeFrame(frameHeader{kind: kindGoaway}, frameText(cause.Error()), goawayTimeout)
		c.wlock.unlock()
	}
	t.Stop()
	c.closeWith(cause)
}

// Call sends req and waits for the reply. Up to the negotiated in-flight
// limit, calls proceed concurrently and their frames interleave; beyond it
// Call waits for a free slot. If ctx ends first, Call returns ctx.Err() at
// once and tells the peer to stop; the slot is freed when the peer answers
// (a late reply is dropped), because until then the peer still counts the
// request against its limit.
func (c *Conn) Call(ctx context.Context, req []byte) ([]byte, error) {
	if len(req) > c.maxSend {
		return nil, fmt.Errorf("%w: %d bytes, the peer accepts at most %d", ErrMessageTooLarge, len(req), c.maxSend)
	}
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, c.closedError()
	}
	id := c.nextID.Add(1)
	if id == 0 { // 0 is reserved for connection-level frames
		id = c.nextID.Add(1)
	}
	p := &pendingCall{ch: make(chan callResult, 1)}
	c.mu.Lock()
	if c.pending == nil {
		c.mu.Unlock()
		<-c.slots
		return nil, c.closedError()
	}
	c.pending[id] = p
	c.mu.Unlock()

	sent, err := c.writeMessage(ctx, kindRequest, id, req)
	if err != nil {
		if sent == 0 {
			c.finish(id, callResult{err: err})
		} else if ctx.Err() != nil {
			go c.writeMessage(context.Background(), kindCancel, id, nil)
		}
		return nil, err
	}
	select {
	case r := <-p.ch:
		return r.reply, r.err
	case <-ctx.Done():
		go c.writeMessage(context.Background(), kindCancel, id, nil)
		return nil, ctx.Err()
	}
}

// finish completes a pending call and frees its slot; false if the call
// was already completed (or the connection closed).
func (c *Conn) finish(id uint32, r callResult) bool {
	c.mu.Lock()
	p, ok := c.pending[id]
	if ok {
		delete(c.pending, id)
	}
	c.mu.Unlock()
	if !ok {
		return false
	}
	<-c.slots
	p.ch <- r
	return true
}

// ServeOwned is Serve for a handler that gives up each reply it returns:
// once written, the reply's buffer goes back to the pool (see Release), so
// h must not return a buffer that anything else still refers to.
func (c *Conn) ServeOwned(h Handler) error {
	return c.serve(h, true)
}

// Serve handles the peer's requests with h, each in its own goroutine, until
// the connection closes; it then returns the reason (wrapping ErrClosed).
// Requests that arrive before Serve is called wait for it. Call it once.
func (c *Conn) Serve(h Handler) error {
	return c.serve(h, false)
}

func (c *Conn) serve(h Handler, ownReplies bool) error {
	if h == nil {
		return errors.New("transport: Serve with a nil handler")
	}
	c.mu.Lock()
	if c.handler != nil {
		c.mu.Unlock()
		return errors.New("transport: Serve called twice")
	}
	c.handler = h
	c.ownReplies = ownReplies
	c.mu.Unlock()
	close(c.served)
	<-c.done
	return c.closedError()
}

func (c *Conn) runHandler(ctx context.Context, cancel context.CancelFunc, id uint32, req []byte) {
	defer cancel()
	select {
	case <-c.served:
	case <-c.done:
		return
	}
	reply, err := callHandler(ctx, c.handler, req)
	// Free the inbound slot before replying: the peer may send its next
	// request as soon as it has the reply, and must not find us still full.
	c.mu.Lock()
	delete(c.inbound, id)
	c.mu.Unlock()
	if err == nil && len(reply) > c.maxSend {
		err = fmt.Errorf("reply of %d bytes exceeds this node's limit of %d", len(reply), c.maxSend)
	}
	if err != nil {
		c.writeMessage(context.Background(), kindError, id, frameText(err.Error()))
		return
	}
	c.writeMessage(context.Background(), kindResponse, id, reply)
	if c.ownReplies {
		Release(reply)
	}
}

func callHandler(ctx context.Context, h Handler, req []byte) (reply []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return h(ctx, req)
}

// writeMessage sends msg as frames of at most maxFragment bytes, taking
// the write lock for each frame so that concurrent messages interleave. It
// stops between frames when ctx ends, and returns the number of frames sent.
func (c *Conn) writeMessage(ctx context.Context, kind frameKind, id uint32, msg []byte) (int, error) {
	sent := 0
	for off := 0; ; {
		if ctx.Err() != nil {
			return sent, ctx.Err()
		}
		h := frameHeader{kind: kind, id: id}
		n := min(len(msg)-off, maxFragment)
		if off == 0 && (kind == kindRequest || kind == kindResponse) {
			h.first, h.total = true, uint32(len(msg))
			n = min(len(msg), maxFirstFragment)
		}
		h.more = off+n < len(msg)
		// A caller whose context ends while it waits behind other frames
		// gives up at once: a ping with a deadline then fails in time even
		// when the frame ahead of it is stuck on a dead link (whose write
		// only times out after WriteTimeout).
		if !c.wlock.lock(c.done, ctx.Done(), nil) {
			if err := ctx.Err(); err != nil {
				return sent, err
			}
			return sent, c.closedError()
		}
		err := c.writeFrame(h, msg[off:off+n], c.cfg.WriteTimeout)
		c.wlock.unlock()
		if err != nil {
			c.closeWith(fmt.Errorf("write to peer: %w", err))
			return sent, c.closedError()
		}
		sent++
		off += n
		if !h.more {
			return sent, nil
		}
	}
}

// writeFrame encrypts and writes one frame; the caller holds c.wlock.
func (c *Conn) writeFrame(h frameHeader, payload []byte, timeout time.Duration) error {
	// Assemble the frame after the length prefix and encrypt it in place.
	pt := appendFrame(c.wbuf[2:2], h, payload)
	out, err := c.send.Encrypt(c.wbuf[:2], nil, pt)
	if err != nil {
		return err
	}
	binary.BigEndian.PutUint16(out, uint16(len(out)-2))
	if err := c.raw.SetWriteDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	_, err = c.raw.Write(out)
	return err
}

// readLoop is the only reader of the socket. It never blocks on a handler
// or a writer, so replies keep flowing whatever the application does.
func (c *Conn) readLoop() {
	for {
		hdr, err := c.br.Peek(2)
		if err != nil {
			c.closeWith(readError(err))
			return
		}
		n := int(binary.BigEndian.Uint16(hdr))
		c.br.Discard(2)
		if n < tagLen+frameHeaderLen {
			c.violation("%d-byte message is shorter than a frame", n)
			return
		}
		// Decrypt in place in the read buffer; handleFrame copies the
		// payload into its message before the buffer is reused.
		ct, err := c.br.Peek(n)
		if err != nil {
			c.closeWith(readError(err))
			return
		}
		pt, err := c.recv.Decrypt(ct[:0], nil, ct)
		if err != nil {
			c.violation("frame failed authentication")
			return
		}
		h, payload, err := parseFrame(pt)
		if err != nil {
			c.violation("%v", err)
			return
		}
		if stop := c.handleFrame(h, payload); stop {
			return
		}
		c.br.Discard(n)
	}
}

func readError(err error) error {
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), isReset(err):
		return errors.New("connection closed by the peer")
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errors.New("read timed out")
	}
	return fmt.Errorf("read from peer: %w", err)
}

// handleFrame processes one frame; true means the connection is closing.
// payload is only valid during the call.
func (c *Conn) handleFrame(h frameHeader, payload []byte) bool {
	switch h.kind {
	case kindRequest:
		return c.handleRequestFrame(h, payload)
	case kindResponse, kindError:
		c.mu.Lock()
		p := c.pending[h.id]
		c.mu.Unlock()
		if p == nil {
			if c.Err() != nil {
				return true
			}
			c.violation("reply to request %d, which is not awaiting one", h.id)
			return true
		}
		if h.kind == kindError {
			c.finish(h.id, callResult{err: &RemoteError{Message: string(payload)}})
			return false
		}
		reply, complete, err := p.reply.add(h, payload, c.cfg.MaxMessageSize)
		if err != nil {
			c.violation("reply to request %d: %v", h.id, err)
			return true
		}
		if complete {
			c.finish(h.id, callResult{reply: reply})
		}
	case kindCancel:
		c.mu.Lock()
		req := c.inbound[h.id]
		if req != nil && !req.dispatched {
			// Abandoned half-way: drop it, and answer so the caller's slot frees.
			delete(c.inbound, h.id)
			c.mu.Unlock()
			go c.writeMessage(context.Background(), kindError, h.id, frameText("request cancelled by the caller"))
			return false
		}
		c.mu.Unlock()
		if req != nil {
			req.cancel()
		}
	case kindGoaway:
		c.closeWith(fmt.Errorf("connection closed by the peer: %s", payload))
		return true
	}
	return false
}

func (c *Conn) handleRequestFrame(h frameHeader, payload []byte) bool {
	c.mu.Lock()
	req := c.inbound[h.id]
	switch {
	case h.first && req != nil:
		c.mu.Unlock()
		c.violation("request id %d reused while still in progress", h.id)
		return true
	case h.first && len(c.inbound) >= c.maxInbound:
		c.mu.Unlock()
		c.violation("peer sent more than %d concurrent requests", c.maxInbound)
		return true
	case h.first:
		req = &inboundRequest{}
		c.inbound[h.id] = req
	case req == nil || req.dispatched:
		c.mu.Unlock()
		c.violation("fragment of request %d, which is not being received", h.id)
		return true
	}
	c.mu.Unlock()
	body, complete, err := req.body.add(h, payload, c.cfg.MaxMessageSize)
	if err != nil {
		c.violation("request %d: %v", h.id, err)
		return true
	}
	if !complete {
		return false
	}
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	req.dispatched = true
	req.cancel = cancel
	req.body = assembly{}
	c.mu.Unlock()
	go c.runHandler(ctx, cancel, h.id, body)
	return false
}

// assembly rebuilds one message from its fragments, in a buffer of the
// exact size announced by the first fragment.
type assembly struct {
	buf     []byte
	total   int
	started bool
}

// add appends a fragment and returns the message once it is complete. An
// error is a protocol violation.
func (a *assembly) add(h frameHeader, payload []byte, limit int) ([]byte, bool, error) {
	switch {
	case h.first && a.started:
		return nil, false, errors.New("a second first fragment")
	case h.first && uint64(h.total) > uint64(limit):
		return nil, false, fmt.Errorf("%d-byte message exceeds the %d-byte message limit", h.total, limit)
	case h.first:
		a.total, a.started = int(h.total), true
		a.buf = NewBuffer(a.total)
	case !a.started:
		return nil, false, errors.New("a fragment before the first one")
	}
	if len(a.buf)+len(payload) > a.total {
		return nil, false, fmt.Errorf("fragments exceed the announced %d bytes", a.total)
	}
	a.buf = append(a.buf, payload...)
	if h.more {
		return nil, false, nil
	}
	if len(a.buf) != a.total {
		return nil, false, fmt.Errorf("message ended after %d of the announced %d bytes", len(a.buf), a.total)
	}
	return a.buf, true, nil
}

// fifoLock is a mutex that goes to its waiters in arrival order. With a
// sync.Mutex the writer of a big message could take the lock back frame
// after frame ahead of a waiting small message; here a frame waits for at
// most one frame of each message that was waiting before it. Uncontended,
// it costs no goroutine switch, so one sender streams without handoffs.
type fifoLock struct {
	mu      sync.Mutex
	held    bool
	waiters []chan struct{}
}

// lock takes the lock; false if done, cancel or timeout fired first (nil
// channels never fire).
func (l *fifoLock) lock(done, cancel <-chan struct{}, timeout <-chan time.Time) bool {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return true
	}
	ch := make(chan struct{})
	l.waiters = append(l.waiters, ch)
	l.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-done:
	case <-cancel:
	case <-timeout:
	}
	l.mu.Lock()
	for i, w := range l.waiters {
		if w == ch {
			l.waiters = append(l.waiters[:i], l.waiters[i+1:]...)
			l.mu.Unlock()
			return false
		}
	}
	l.mu.Unlock()
	// The lock was handed over while we gave up: pass it on.
	l.unlock()
	return false
}

// unlock hands the lock to the longest waiter, or frees it.
func (l *fifoLock) unlock() {
	l.mu.Lock()
	if len(l.waiters) == 0 {
		l.held = false
		l.mu.Unlock()
		return
	}
	next := l.waiters[0]
	l.waiters = l.waiters[1:]
	l.mu.Unlock()
	close(next)
}

// waiting is the number of waiters (tests use it to order events).
func (l *fifoLock) waiting() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}

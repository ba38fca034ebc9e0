package transport

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// maxPendingHandshakes bounds the handshakes in progress (plus finished
// connections not yet taken by Accept), so a flood of silent clients costs
// at most this many goroutines and sockets, each for HandshakeTimeout.
const maxPendingHandshakes = 64

// Listener accepts connections from dialing peers (the proxy's side) and
// runs each handshake in its own goroutine, so a slow or hostile client
// never delays the others.
type Listener struct {
	ln      net.Listener
	cfg     Config
	results chan acceptResult
	slots   chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

type acceptResult struct {
	conn *Conn
	err  error
}

// Listen listens on a TCP address ("host:port"; port 0 picks a free one,
// see Addr) as the responder of the handshake.
func Listen(addr string, cfg Config) (*Listener, error) {
	if _, err := cfg.withDefaults(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("transport: listen on %s: %w", addr, err)
	}
	return NewListener(ln, cfg)
}

// NewListener serves handshakes on an existing listener, which it then owns.
func NewListener(ln net.Listener, cfg Config) (*Listener, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		ln.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		ln:      ln,
		cfg:     cfg,
		results: make(chan acceptResult),
		slots:   make(chan struct{}, maxPendingHandshakes),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Addr is the address the listener is bound to.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Accept returns the next connection whose handshake succeeded. A failed
// handshake is returned as an error wrapping ErrHandshake (log it and call
// Accept again); after Close, the error wraps ErrClosed.
func (l *Listener) Accept() (*Conn, error) {
	select {
	case r := <-l.results:
		return r.conn, r.err
	case <-l.done:
		return nil, fmt.Errorf("%w: listener closed", ErrClosed)
	}
}

// Close stops listening and aborts handshakes in progress; connections
// already returned by Accept stay open.
func (l *Listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		l.cancel()
		err = l.ln.Close()
		l.wg.Wait()
	})
	return err
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		select {
		case l.slots <- struct{}{}:
		case <-l.done:
			return
		}
		raw, err := l.ln.Accept()
		if err != nil {
			<-l.slots
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like pass; retry like
			// net/http does rather than give up on listening.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-l.done:
				return
			}
			continue
		}
		backoff = 0
		l.wg.Add(1)
		go l.handshake(raw)
	}
}

func (l *Listener) handshake(raw net.Conn) {
	defer l.wg.Done()
	defer func() { <-l.slots }()
	conn, err := handshake(l.ctx, raw, l.cfg, false)
	select {
	case l.results <- acceptResult{conn: conn, err: err}:
	case <-l.done:
		if conn != nil {
			conn.Close()
		}
	}
}

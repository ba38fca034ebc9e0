package transport

import (
	"context"
	"errors"
	"fmt"

	"github.com/qasmat/qasmat/transport/wire"
)

// MessageHandler answers one decoded wire message. A nil reply with a nil
// error sends wire.Ok. A returned *wire.Error is sent as the reply; any
// other error is sent as a wire.Error with CodeInternal and its text.
type MessageHandler func(ctx context.Context, req wire.Message) (wire.Message, error)

// CallMessage sends a wire message and decodes the reply. A wire.Error
// reply is returned as the error (a *wire.Error: test it with errors.Is
// against wire.ErrNotFound and the like); the reply is never a *wire.Error.
func (c *Conn) CallMessage(ctx context.Context, req wire.Message) (wire.Message, error) {
	b, err := wire.Marshal(req)
	if err != nil {
		return nil, err
	}
	raw, err := c.Call(ctx, b)
	if err != nil {
		return nil, err
	}
	reply, err := wire.Unmarshal(raw)
	if err != nil {
		return nil, fmt.Errorf("transport: reply to %s: %w", req.Type(), err)
	}
	if e, ok := reply.(*wire.Error); ok {
		return nil, e
	}
	return reply, nil
}

// ServeMessages is Serve with requests decoded as wire messages.
func (c *Conn) ServeMessages(h MessageHandler) error {
	return c.Serve(HandleMessages(h))
}

// HandleMessages adapts a MessageHandler to a Handler. A request that does
// not decode (unknown type, newer version, malformed) is answered with a
// wire.Error of CodeBadRequest without calling h.
func HandleMessages(h MessageHandler) Handler {
	return func(ctx context.Context, raw []byte) ([]byte, error) {
		req, err := wire.Unmarshal(raw)
		if err != nil {
			return wire.Marshal(wire.Errorf(wire.CodeBadRequest, "%v", err))
		}
		reply, err := h(ctx, req)
		if err != nil {
			var we *wire.Error
			if !errors.As(err, &we) {
				we = wire.Errorf(wire.CodeInternal, "%v", err)
			}
			return wire.Marshal(we)
		}
		if reply == nil {
			reply = &wire.Ok{}
		}
		return wire.Marshal(reply)
	}
}

// Expect checks that a reply has the type the request calls for:
//
//	pong, err := transport.Expect[*wire.Pong](conn.CallMessage(ctx, &wire.Ping{Nonce: n}))
func Expect[T wire.Message](reply wire.Message, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	m, ok := reply.(T)
	if !ok {
		return zero, fmt.Errorf("%w: unexpected reply %s (want %T)", ErrProtocol, reply.Type(), zero)
	}
	return m, nil
}

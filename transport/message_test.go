package transport

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/qasmat/qasmat/transport/wire"
)

// everyMessage holds one message of every wire type.
func everyMessage() []wire.Message {
	id := wire.FileID{0x10, 0x20, 15: 0xFF}
	return []wire.Message{
		&wire.Hello{Name: "storage-1", Location: "rack 2", SoftwareVersion: "v1.0.0", FreeBytes: 10, TotalBytes: 20},
		&wire.HelloReply{Accepted: true, Reason: "welcome"},
		&wire.PutChunk{FileID: id, Epoch: 1, Index: 2, Data: bytes.Repeat([]byte{9}, 12+1<<20)},
		&wire.SyncFile{FileID: id, Epoch: 1, Chunks: 3},
		&wire.GetChunk{FileID: id, Epoch: 1, Index: 2},
		&wire.ChunkData{Data: []byte("share chunk")},
		&wire.DeleteFile{FileID: id},
		&wire.ListFiles{After: id, Limit: 10},
		&wire.FileList{IDs: []wire.FileID{id, {1}}, More: true},
		&wire.Ping{Nonce: 42},
		&wire.Pong{Nonce: 42},
		&wire.Stats{},
		&wire.StatsReply{UsedBytes: 1, FreeBytes: 2, TotalBytes: 3, Files: 4},
		&wire.RenewPrepare{FileID: id, FromEpoch: 1, ToEpoch: 2, Index: 0, Delta: []byte{1, 2, 3}},
		&wire.RenewCommit{FileID: id, Epoch: 2},
		&wire.RenewAbort{FileID: id, Epoch: 2},
		&wire.Ok{},
		&wire.Error{Code: wire.CodeOutOfSpace, Message: "disk full"},
	}
}

func TestEveryMessageTypeRoundTripsOverAConnection(t *testing.T) {
	storage, proxy := defaultPair(t)
	received := make(chan wire.Message, 1)
	go storage.ServeMessages(func(_ context.Context, req wire.Message) (wire.Message, error) {
		received <- req
		if e, ok := req.(*wire.Error); ok {
			return nil, e
		}
		return req, nil // echo: the reply travels the other way
	})
	types := map[wire.Type]bool{}
	for _, m := range everyMessage() {
		types[m.Type()] = true
		reply, err := proxy.CallMessage(testContext(t), m)
		got := await(t, received, m.Type().String())
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%s: handler got %#v", m.Type(), got)
		}
		if e, ok := m.(*wire.Error); ok {
			var we *wire.Error
			if !errors.As(err, &we) || !reflect.DeepEqual(we, e) {
				t.Errorf("Error reply: %v, want %v", err, e)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(reply, m) {
			t.Errorf("%s: reply %#v, %v", m.Type(), reply, err)
		}
	}
	if len(types) != 18 {
		t.Fatalf("%d message types covered, want 18", len(types))
	}
}

func TestMessageHandlerErrors(t *testing.T) {
	storage, proxy := defaultPair(t)
	go storage.ServeMessages(func(_ context.Context, req wire.Message) (wire.Message, error) {
		switch m := req.(type) {
		case *wire.GetChunk:
			return nil, wire.Errorf(wire.CodeNotFound, "no chunk %d", m.Index)
		case *wire.DeleteFile:
			return nil, errors.New("pebble: disk I/O error")
		case *wire.Ping:
			return &wire.Pong{Nonce: m.Nonce}, nil
		}
		return nil, nil
	})
	ctx := testContext(t)
	_, err := proxy.CallMessage(ctx, &wire.GetChunk{Index: 3})
	if !errors.Is(err, wire.ErrNotFound) || !strings.Contains(err.Error(), "no chunk 3") {
		t.Errorf("GetChunk: %v; want not found", err)
	}
	_, err = proxy.CallMessage(ctx, &wire.DeleteFile{})
	if !errors.Is(err, wire.ErrInternal) || !strings.Contains(err.Error(), "disk I/O error") {
		t.Errorf("DeleteFile: %v; want internal error with the text", err)
	}
	if r, err := proxy.CallMessage(ctx, &wire.SyncFile{}); err != nil || r.Type() != wire.TypeOk {
		t.Errorf("nil reply: %v, %v; want Ok", r, err)
	}
	pong, err := Expect[*wire.Pong](proxy.CallMessage(ctx, &wire.Ping{Nonce: 7}))
	if err != nil || pong.Nonce != 7 {
		t.Errorf("Expect Pong: %v, %v", pong, err)
	}
	if _, err := Expect[*wire.Pong](proxy.CallMessage(ctx, &wire.Stats{})); !errors.Is(err, ErrProtocol) {
		t.Errorf("Expect Pong for an Ok reply: %v; want ErrProtocol", err)
	}
	// Bytes that are not a message get a BadRequest, and the handler never runs.
	for _, raw := range [][]byte{{}, {9, 1}, {1, 200}, {1, 10, 0}} {
		reply, err := proxy.Call(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		m, err := wire.Unmarshal(reply)
		if !errors.Is(asError(m, err), wire.ErrBadRequest) {
			t.Errorf("request % x: reply %v, %v; want BadRequest", raw, m, err)
		}
	}
}

func asError(m wire.Message, err error) error {
	if err != nil {
		return err
	}
	if e, ok := m.(*wire.Error); ok {
		return e
	}
	return nil
}

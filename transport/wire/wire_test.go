package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func testID(b byte) FileID {
	var id FileID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

// samples holds at least one message of every type, with fields at their
// edges (empty, maximal, non-ASCII).
func samples() []Message {
	return []Message{
		&Hello{Name: "storage-1", Location: "Zürich rack 3", SoftwareVersion: "v1.2.3", FreeBytes: 1 << 40, TotalBytes: 1<<41 + 5},
		&Hello{Name: strings.Repeat("n", MaxNameLen), Location: strings.Repeat("l", MaxNameLen), SoftwareVersion: strings.Repeat("v", MaxNameLen)},
		&HelloReply{Accepted: true},
		&HelloReply{Accepted: false, Reason: "a different storage server already uses this name"},
		&PutChunk{FileID: testID(1), Epoch: 7, Index: 42, Data: bytes.Repeat([]byte{0xAB}, 12+1024)},
		&PutChunk{FileID: testID(2), Epoch: 0, Index: 0xFFFFFFFF},
		&SyncFile{FileID: testID(3), Epoch: 1, Chunks: 1000},
		&GetChunk{FileID: testID(4), Epoch: 2, Index: 3},
		&ChunkData{Data: []byte("share chunk bytes")},
		&ChunkData{},
		&DeleteFile{FileID: testID(5)},
		&ListFiles{},
		&ListFiles{After: testID(6), Limit: 100},
		&FileList{},
		&FileList{IDs: []FileID{testID(7), testID(8), testID(9)}, More: true},
		&Ping{Nonce: 0x0102030405060708},
		&Pong{Nonce: 0xFFFFFFFFFFFFFFFF},
		&Stats{},
		&StatsReply{UsedBytes: 1, FreeBytes: 2, TotalBytes: 3, Files: 4},
		&RenewPrepare{FileID: testID(10), FromEpoch: 3, ToEpoch: 4, Index: 9, Delta: bytes.Repeat([]byte{1, 2, 3}, 400)},
		&RenewCommit{FileID: testID(11), Epoch: 4},
		&RenewAbort{FileID: testID(12), Epoch: 4},
		&RenewPrepared{Digest: [32]byte{1, 2, 3, 31: 0xFF}},
		&RenewPrepared{},
		&Ok{},
		&Error{Code: CodeNotFound, Message: "no chunk 3 of file 0102... at epoch 2"},
		&Error{Code: Code(999)},
	}
}

func TestRoundTripEveryType(t *testing.T) {
	seen := map[Type]bool{}
	for _, m := range samples() {
		seen[m.Type()] = true
		b, err := Marshal(m)
		if err != nil {
			t.Fatalf("Marshal(%#v): %v", m, err)
		}
		if b[0] != Version || Type(b[1]) != m.Type() {
			t.Fatalf("%s: header % x, want version %d type %d", m.Type(), b[:2], Version, m.Type())
		}
		got, err := Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%#v)): %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip of %s:\n got %#v\nwant %#v", m.Type(), got, m)
		}
	}
	for typ := range typeNames {
		if !seen[typ] {
			t.Errorf("no sample of %s", typ)
		}
	}
}

func TestKnownEncoding(t *testing.T) {
	// Fixes the byte layout documented in docs/protocol.md.
	cases := []struct {
		m    Message
		want []byte
	}{
		{&Ping{Nonce: 0x0102030405060708}, []byte{1, 10, 1, 2, 3, 4, 5, 6, 7, 8}},
		{&Ok{}, []byte{1, 17}},
		{&Error{Code: CodeOutOfSpace, Message: "full"}, []byte{1, 18, 0, 4, 4, 'f', 'u', 'l', 'l'}},
		{&HelloReply{Accepted: true, Reason: ""}, []byte{1, 2, 1, 0}},
		{&GetChunk{FileID: FileID{15: 0xEE}, Epoch: 2, Index: 0x0100},
			append(append([]byte{1, 5}, idBytes(FileID{15: 0xEE})...), 0, 0, 0, 2, 0, 0, 1, 0)},
	}
	for _, c := range cases {
		got, err := Marshal(c.m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, c.want) {
			t.Errorf("%s: % x, want % x", c.m.Type(), got, c.want)
		}
	}
}

func idBytes(id FileID) []byte { return id[:] }

func TestUnmarshalRejectsMalformed(t *testing.T) {
	ping, _ := Marshal(&Ping{Nonce: 1})
	put, _ := Marshal(&PutChunk{FileID: testID(1), Data: []byte("abc")})
	hello, _ := Marshal(&Hello{Name: "s"})
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrMalformed},
		{"one byte", []byte{1}, ErrMalformed},
		{"version 0", []byte{0, 10}, ErrUnsupportedVersion},
		{"version 2", []byte{2, 17}, ErrUnsupportedVersion},
		{"unknown type 0", []byte{1, 0}, ErrUnknownType},
		{"unknown type 200", []byte{1, 200}, ErrUnknownType},
		{"truncated ping", ping[:len(ping)-1], ErrMalformed},
		{"trailing byte", append(append([]byte{}, ping...), 0), ErrMalformed},
		{"ok with payload", []byte{1, 17, 0}, ErrMalformed},
		{"truncated data", put[:len(put)-1], ErrMalformed},
		{"data length past end", append(append([]byte{}, put[:len(put)-4]...), 9, 'a', 'b', 'c'), ErrMalformed},
		{"non-minimal uvarint", []byte{1, 6, 0x80, 0x00}, ErrMalformed},
		{"uvarint overflow", []byte{1, 6, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}, ErrMalformed},
		{"data over limit", append([]byte{1, 6}, uvarint(MaxDataLen+1)...), ErrMalformed},
		{"name over 255 bytes", append(append([]byte{1, 1}, uvarint(256)...), bytes.Repeat([]byte{'a'}, 256)...), ErrMalformed},
		{"empty name", append([]byte{1, 1, 0, 0, 0}, make([]byte, 16)...), ErrMalformed},
		{"name not UTF-8", append([]byte{1, 1, 2, 0xC3, 0x28, 0, 0}, make([]byte, 16)...), ErrMalformed},
		{"hello truncated", hello[:len(hello)-3], ErrMalformed},
		{"bool 2", []byte{1, 2, 2, 0}, ErrMalformed},
		{"error code 0", []byte{1, 18, 0, 0, 0}, ErrMalformed},
		{"file list count past end", []byte{1, 9, 3, 0}, ErrMalformed},
		{"file list over limit", append([]byte{1, 9}, uvarint(MaxListIDs+1)...), ErrMalformed},
	}
	for _, c := range cases {
		m, err := Unmarshal(c.in)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Unmarshal(% x) = %v, %v; want error %v", c.name, c.in, m, err, c.want)
		}
		if err == nil || m != nil {
			t.Errorf("%s: got message %#v with error %v", c.name, m, err)
		}
	}
}

func uvarint(v uint64) []byte {
	var b []byte
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func TestMarshalRejectsBrokenLimits(t *testing.T) {
	cases := []Message{
		&Hello{},
		&Hello{Name: strings.Repeat("x", MaxNameLen+1)},
		&Hello{Name: "s", Location: "\xff"},
		&HelloReply{Reason: strings.Repeat("r", MaxTextLen+1)},
		&PutChunk{Data: make([]byte, MaxDataLen+1)},
		&FileList{IDs: make([]FileID, MaxListIDs+1)},
		&Error{},
		nil,
	}
	for _, m := range cases {
		if b, err := Marshal(m); !errors.Is(err, ErrInvalid) {
			t.Errorf("Marshal(%T) = %d bytes, %v; want ErrInvalid", m, len(b), err)
		}
	}
}

func TestUnmarshalAliasesData(t *testing.T) {
	// Callers rely on this to avoid a copy of every 1 MiB chunk; document it by test.
	b, _ := Marshal(&ChunkData{Data: []byte("xyz")})
	m, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] = 'Z'
	if got := string(m.(*ChunkData).Data); got != "xyZ" {
		t.Fatalf("Data = %q, want it to alias the input", got)
	}
}

func TestErrorMatchesSentinelByCode(t *testing.T) {
	var err error = Errorf(CodeNotFound, "chunk %d", 3)
	if !errors.Is(err, ErrNotFound) {
		t.Fatal("errors.Is(not found error, ErrNotFound) = false")
	}
	if errors.Is(err, ErrInternal) {
		t.Fatal("errors.Is(not found error, ErrInternal) = true")
	}
	if got := err.Error(); got != "storage: not found: chunk 3" {
		t.Fatalf("Error() = %q", got)
	}
	long := Errorf(CodeInternal, "%s", strings.Repeat("é", MaxTextLen))
	if len(long.Message) > MaxTextLen {
		t.Fatalf("Errorf kept %d bytes, limit %d", len(long.Message), MaxTextLen)
	}
	if _, err := Marshal(long); err != nil {
		t.Fatalf("Marshal of a truncated Errorf message: %v", err)
	}
}

// Package wire encodes and decodes the versioned binary messages that the
// proxy and the storage servers exchange over the transport (docs/protocol.md).
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Version is the protocol version carried in the first byte of every message.
const Version = 1

// Limits enforced by the decoders (and by Marshal, so that nothing is ever
// sent that the other side would refuse).
const (
	MaxNameLen    = 255         // Hello.Name, Location, SoftwareVersion
	MaxTextLen    = 1024        // HelloReply.Reason, Error.Message
	MaxDataLen    = 4<<20 - 256 // PutChunk.Data, ChunkData.Data, RenewPrepare.Delta
	MaxListIDs    = 65536       // FileList.IDs per reply (1 MiB of IDs)
	FileIDLen     = 16
	headerLen     = 2 // version, type
	maxUvarintLen = binary.MaxVarintLen64
)

// Type identifies a message; it is the second byte of every encoded message.
type Type uint8

// Message types. Numbers are never reused; a new message gets a new number.
const (
	TypeHello         Type = 1
	TypeHelloReply    Type = 2
	TypePutChunk      Type = 3
	TypeSyncFile      Type = 4
	TypeGetChunk      Type = 5
	TypeChunkData     Type = 6
	TypeDeleteFile    Type = 7
	TypeListFiles     Type = 8
	TypeFileList      Type = 9
	TypePing          Type = 10
	TypePong          Type = 11
	TypeStats         Type = 12
	TypeStatsReply    Type = 13
	TypeRenewPrepare  Type = 14
	TypeRenewCommit   Type = 15
	TypeRenewAbort    Type = 16
	TypeOk            Type = 17
	TypeError         Type = 18
	TypeRenewPrepared Type = 19
)

var typeNames = map[Type]string{
	TypeHello: "Hello", TypeHelloReply: "HelloReply", TypePutChunk: "PutChunk",
	TypeSyncFile: "SyncFile", TypeGetChunk: "GetChunk", TypeChunkData: "ChunkData",
	TypeDeleteFile: "DeleteFile", TypeListFiles: "ListFiles", TypeFileList: "FileList",
	TypePing: "Ping", TypePong: "Pong", TypeStats: "Stats", TypeStatsReply: "StatsReply",
	TypeRenewPrepare: "RenewPrepare", TypeRenewCommit: "RenewCommit",
	TypeRenewAbort: "RenewAbort", TypeOk: "Ok", TypeError: "Error",
	TypeRenewPrepared: "RenewPrepared",
}

func (t Type) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Errors returned by Unmarshal (wrapped with details); Marshal returns
// ErrInvalid for a message that breaks a limit.
var (
	ErrUnsupportedVersion = errors.New("wire: unsupported protocol version")
	ErrUnknownType        = errors.New("wire: unknown message type")
	ErrMalformed          = errors.New("wire: malformed message")
	ErrInvalid            = errors.New("wire: invalid message")
)

// A Message is one of the pointer types of this package (*Hello, *PutChunk, ...).
type Message interface {
	// Type is the message's type number.
	Type() Type
	// append encodes the fields (after the 2-byte header) onto b.
	append(b []byte) []byte
	// decode reads the fields; the reader checks for trailing bytes after it.
	decode(r *reader) error
	// check validates limits before encoding.
	check() error
}

// FileID identifies a file to storage servers: 16 random bytes chosen by the
// proxy, unrelated to the file's name or owner.
type FileID [FileIDLen]byte

func (id FileID) String() string { return fmt.Sprintf("%x", id[:]) }

// Marshal encodes m as version, type, fields.
func Marshal(m Message) ([]byte, error) {
	return Append(nil, m)
}

// Append encodes m onto dst.
func Append(dst []byte, m Message) ([]byte, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil message", ErrInvalid)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalid, m.Type(), err)
	}
	dst = append(dst, Version, byte(m.Type()))
	return m.append(dst), nil
}

// Unmarshal decodes one message that fills b exactly. It returns one of the
// pointer types of this package. Byte slices in the result (Data, Delta)
// alias b; strings are copies.
func Unmarshal(b []byte) (Message, error) {
	if len(b) < headerLen {
		return nil, fmt.Errorf("%w: %d bytes, a message has at least 2", ErrMalformed, len(b))
	}
	if b[0] != Version {
		return nil, fmt.Errorf("%w: version %d, this node speaks %d", ErrUnsupportedVersion, b[0], Version)
	}
	m := newMessage(Type(b[1]))
	if m == nil {
		return nil, fmt.Errorf("%w: %d", ErrUnknownType, b[1])
	}
	r := &reader{b: b[headerLen:]}
	if err := m.decode(r); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrMalformed, m.Type(), err)
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: %s: %d trailing bytes", ErrMalformed, m.Type(), len(r.b))
	}
	return m, nil
}

func newMessage(t Type) Message {
	switch t {
	case TypeHello:
		return new(Hello)
	case TypeHelloReply:
		return new(HelloReply)
	case TypePutChunk:
		return new(PutChunk)
	case TypeSyncFile:
		return new(SyncFile)
	case TypeGetChunk:
		return new(GetChunk)
	case TypeChunkData:
		return new(ChunkData)
	case TypeDeleteFile:
		return new(DeleteFile)
	case TypeListFiles:
		return new(ListFiles)
	case TypeFileList:
		return new(FileList)
	case TypePing:
		return new(Ping)
	case TypePong:
		return new(Pong)
	case TypeStats:
		return new(Stats)
	case TypeStatsReply:
		return new(StatsReply)
	case TypeRenewPrepare:
		return new(RenewPrepare)
	case TypeRenewCommit:
		return new(RenewCommit)
	case TypeRenewAbort:
		return new(RenewAbort)
	case TypeOk:
		return new(Ok)
	case TypeError:
		return new(Error)
	case TypeRenewPrepared:
		return new(RenewPrepared)
	}
	return nil
}

// Encoding helpers. Integers are fixed-width big-endian; variable-length
// fields are a canonical uvarint length followed by the bytes.

func appendU16(b []byte, v uint16) []byte { return binary.BigEndian.AppendUint16(b, v) }
func appendU32(b []byte, v uint32) []byte { return binary.BigEndian.AppendUint32(b, v) }
func appendU64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func checkString(field, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%s is %d bytes, at most %d allowed", field, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	return nil
}

func checkBytes(field string, v []byte, limit int) error {
	if len(v) > limit {
		return fmt.Errorf("%s is %d bytes, at most %d allowed", field, len(v), limit)
	}
	return nil
}

// reader consumes a message body; every method fails instead of panicking
// on short input.
type reader struct {
	b []byte
}

func (r *reader) take(n int, field string) ([]byte, error) {
	if n < 0 || len(r.b) < n {
		return nil, fmt.Errorf("%s: truncated (need %d bytes, have %d)", field, n, len(r.b))
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) u8(field string) (uint8, error) {
	v, err := r.take(1, field)
	if err != nil {
		return 0, err
	}
	return v[0], nil
}

func (r *reader) u16(field string) (uint16, error) {
	v, err := r.take(2, field)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint16(v), nil
}

func (r *reader) u32(field string) (uint32, error) {
	v, err := r.take(4, field)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(v), nil
}

func (r *reader) u64(field string) (uint64, error) {
	v, err := r.take(8, field)
	if err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

func (r *reader) fileID(field string) (FileID, error) {
	var id FileID
	v, err := r.take(FileIDLen, field)
	if err != nil {
		return id, err
	}
	copy(id[:], v)
	return id, nil
}

func (r *reader) bool(field string) (bool, error) {
	v, err := r.take(1, field)
	if err != nil {
		return false, err
	}
	switch v[0] {
	case 0:
		return false, nil
	case 1:
		return true, nil
	}
	return false, fmt.Errorf("%s: boolean byte %d (want 0 or 1)", field, v[0])
}

// uvarint reads a canonical (shortest-form) uvarint, so that every message
// has exactly one encoding.
func (r *reader) uvarint(field string) (uint64, error) {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		return 0, fmt.Errorf("%s: bad length prefix", field)
	}
	var tmp [maxUvarintLen]byte
	if len(binary.AppendUvarint(tmp[:0], v)) != n {
		return 0, fmt.Errorf("%s: length prefix not in shortest form", field)
	}
	r.b = r.b[n:]
	return v, nil
}

func (r *reader) length(field string, limit int) (int, error) {
	v, err := r.uvarint(field)
	if err != nil {
		return 0, err
	}
	if v > uint64(limit) {
		return 0, fmt.Errorf("%s: %d bytes, at most %d allowed", field, v, limit)
	}
	return int(v), nil
}

func (r *reader) bytes(field string, limit int) ([]byte, error) {
	n, err := r.length(field, limit)
	if err != nil || n == 0 {
		return nil, err
	}
	return r.take(n, field)
}

func (r *reader) string(field string, limit int) (string, error) {
	v, err := r.bytes(field, limit)
	if err != nil {
		return "", err
	}
	if !utf8.Valid(v) {
		return "", fmt.Errorf("%s: not valid UTF-8", field)
	}
	return string(v), nil
}

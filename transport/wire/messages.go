package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Hello is the storage server's first request after the handshake. The
// server's identity is its Noise static key (learnt in the handshake), not Name.
type Hello struct {
	Name            string // 1..255 bytes, UTF-8
	Location        string // optional label, <= 255 bytes
	SoftwareVersion string // <= 255 bytes
	FreeBytes       uint64
	TotalBytes      uint64
	// Transit is the QKD transit mode the server is configured with (0
	// none, 1 AES, 2 OTP, as kms.Mode); the proxy refuses a server whose
	// mode differs from its own, so that no link is silently weaker.
	Transit uint8
}

// HelloReply answers Hello; a refused server is told why and then disconnected.
type HelloReply struct {
	Accepted bool
	Reason   string // <= 1024 bytes
}

// PutChunk stores one share chunk of a file at an epoch. Data is the encoded
// share chunk (12-byte header, then shares); the storage server keeps it as is.
type PutChunk struct {
	FileID FileID
	Epoch  uint32
	Index  uint32
	Data   []byte
}

// SyncFile asks the storage server to make the file's chunks 0..Chunks-1 at
// Epoch durable and to check that it holds all of them; the reply is Ok only
// then.
type SyncFile struct {
	FileID FileID
	Epoch  uint32
	Chunks uint32
}

// GetChunk asks for one share chunk; the reply is ChunkData or Error.
type GetChunk struct {
	FileID FileID
	Epoch  uint32
	Index  uint32
}

// ChunkData carries a share chunk exactly as it was stored.
type ChunkData struct {
	Data []byte
}

// DeleteFile removes every chunk of a file at every epoch (idempotent).
type DeleteFile struct {
	FileID FileID
}

// ListFiles asks for the IDs of the files the storage server holds, in
// ascending byte order, starting after After (the zero ID starts at the
// beginning, and is itself never a valid file ID). At most Limit IDs come
// back; 0 or anything above MaxListIDs means MaxListIDs.
type ListFiles struct {
	After FileID
	Limit uint32
}

// FileList answers ListFiles. More is true when IDs after the last one may
// exist: ask again with After set to the last ID.
type FileList struct {
	IDs  []FileID
	More bool
}

// Ping asks for a Pong with the same nonce (round-trip measurement, liveness).
type Ping struct {
	Nonce uint64
}

// Pong answers Ping.
type Pong struct {
	Nonce uint64
}

// Stats asks a storage server for its usage.
type Stats struct{}

// StatsReply answers Stats.
type StatsReply struct {
	UsedBytes  uint64 // bytes of share data held
	FreeBytes  uint64 // free bytes on the storage server's disk
	TotalBytes uint64 // size of that disk
	Files      uint64 // number of files held
}

// RenewPrepare sends the renewal delta of one chunk: the storage server adds
// Delta to its share chunk of FromEpoch (part by part, mod p) and writes the
// result as ToEpoch beside the old one, synced, keeping FromEpoch until
// RenewCommit.
type RenewPrepare struct {
	FileID    FileID
	FromEpoch uint32
	ToEpoch   uint32
	Index     uint32
	Delta     []byte
}

// RenewCommit makes Epoch the file's only epoch: older epochs are deleted.
type RenewCommit struct {
	FileID FileID
	Epoch  uint32
}

// RenewAbort drops the prepared Epoch of a file, keeping the older one.
type RenewAbort struct {
	FileID FileID
	Epoch  uint32
}

// Ok is the reply to a request that succeeded and returns nothing.
type Ok struct{}

// RenewPrepared answers RenewPrepare: Digest is the SHA-256 of the new share
// chunk (its whole encoding) written at ToEpoch. The proxy records it in the
// catalog for the new epoch; it cannot compute it, as it never sees shares.
type RenewPrepared struct {
	Digest [32]byte
}

// Error is the reply to a request that failed. It is also a Go error:
// errors.Is(err, ErrNotFound) matches any *Error with CodeNotFound.
type Error struct {
	Code    Code
	Message string // <= 1024 bytes, for logs; never contains secrets
}

// Code classifies an Error. A receiver treats an unknown nonzero code as
// CodeInternal.
type Code uint16

// Error codes.
const (
	CodeNotFound   Code = 1 // the file, epoch or chunk is not held
	CodeBadRequest Code = 2 // the request was malformed or not understood
	CodeInternal   Code = 3 // the storage server failed (disk error, bug)
	CodeOutOfSpace Code = 4 // the storage server has no room for the data
	CodeConflict   Code = 5 // the request does not fit the held state (wrong epoch, ...)
)

func (c Code) String() string {
	switch c {
	case CodeNotFound:
		return "not found"
	case CodeBadRequest:
		return "bad request"
	case CodeInternal:
		return "internal error"
	case CodeOutOfSpace:
		return "out of space"
	case CodeConflict:
		return "conflict"
	}
	return fmt.Sprintf("code %d", uint16(c))
}

// Sentinels for errors.Is; they match any *Error with the same code.
var (
	ErrNotFound   = &Error{Code: CodeNotFound}
	ErrBadRequest = &Error{Code: CodeBadRequest}
	ErrInternal   = &Error{Code: CodeInternal}
	ErrOutOfSpace = &Error{Code: CodeOutOfSpace}
	ErrConflict   = &Error{Code: CodeConflict}
)

// Errorf builds an *Error with a formatted message, truncated to MaxTextLen.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: truncateText(fmt.Sprintf(format, args...))}
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "storage: " + e.Code.String()
	}
	return "storage: " + e.Code.String() + ": " + e.Message
}

// Is matches another *Error with the same code, so the sentinels work with
// errors.Is whatever the message.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// truncateText cuts s to at most MaxTextLen bytes on a UTF-8 boundary.
func truncateText(s string) string {
	if len(s) <= MaxTextLen {
		return s
	}
	cut := MaxTextLen
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut]
}

func (*Hello) Type() Type         { return TypeHello }
func (*HelloReply) Type() Type    { return TypeHelloReply }
func (*PutChunk) Type() Type      { return TypePutChunk }
func (*SyncFile) Type() Type      { return TypeSyncFile }
func (*GetChunk) Type() Type      { return TypeGetChunk }
func (*ChunkData) Type() Type     { return TypeChunkData }
func (*DeleteFile) Type() Type    { return TypeDeleteFile }
func (*ListFiles) Type() Type     { return TypeListFiles }
func (*FileList) Type() Type      { return TypeFileList }
func (*Ping) Type() Type          { return TypePing }
func (*Pong) Type() Type          { return TypePong }
func (*Stats) Type() Type         { return TypeStats }
func (*StatsReply) Type() Type    { return TypeStatsReply }
func (*RenewPrepare) Type() Type  { return TypeRenewPrepare }
func (*RenewCommit) Type() Type   { return TypeRenewCommit }
func (*RenewAbort) Type() Type    { return TypeRenewAbort }
func (*Ok) Type() Type            { return TypeOk }
func (*Error) Type() Type         { return TypeError }
func (*RenewPrepared) Type() Type { return TypeRenewPrepared }

// Hello: name, location, software version (uvarint-prefixed), free, total (u64).

func (m *Hello) check() error {
	if m.Name == "" {
		return errors.New("name is empty")
	}
	if m.Transit > 2 {
		return fmt.Errorf("transit mode %d (want 0, 1 or 2)", m.Transit)
	}
	return errors.Join(checkString("name", m.Name, MaxNameLen),
		checkString("location", m.Location, MaxNameLen),
		checkString("software version", m.SoftwareVersion, MaxNameLen))
}

func (m *Hello) append(b []byte) []byte {
	b = appendString(b, m.Name)
	b = appendString(b, m.Location)
	b = appendString(b, m.SoftwareVersion)
	b = appendU64(b, m.FreeBytes)
	b = appendU64(b, m.TotalBytes)
	return append(b, m.Transit)
}

func (m *Hello) decode(r *reader) (err error) {
	if m.Name, err = r.string("name", MaxNameLen); err != nil {
		return err
	}
	if m.Name == "" {
		return errors.New("name: empty")
	}
	if m.Location, err = r.string("location", MaxNameLen); err != nil {
		return err
	}
	if m.SoftwareVersion, err = r.string("software version", MaxNameLen); err != nil {
		return err
	}
	if m.FreeBytes, err = r.u64("free bytes"); err != nil {
		return err
	}
	if m.TotalBytes, err = r.u64("total bytes"); err != nil {
		return err
	}
	if m.Transit, err = r.u8("transit mode"); err != nil {
		return err
	}
	if m.Transit > 2 {
		return fmt.Errorf("transit mode %d (want 0, 1 or 2)", m.Transit)
	}
	return nil
}

// HelloReply: accepted (bool byte), reason.

func (m *HelloReply) check() error { return checkString("reason", m.Reason, MaxTextLen) }

func (m *HelloReply) append(b []byte) []byte {
	b = appendBool(b, m.Accepted)
	return appendString(b, m.Reason)
}

func (m *HelloReply) decode(r *reader) (err error) {
	if m.Accepted, err = r.bool("accepted"); err != nil {
		return err
	}
	m.Reason, err = r.string("reason", MaxTextLen)
	return err
}

// PutChunk: file ID, epoch, index, data.

func (m *PutChunk) check() error { return checkBytes("data", m.Data, MaxDataLen) }

func (m *PutChunk) append(b []byte) []byte {
	b = append(b, m.FileID[:]...)
	b = appendU32(b, m.Epoch)
	b = appendU32(b, m.Index)
	return appendBytes(b, m.Data)
}

func (m *PutChunk) decode(r *reader) (err error) {
	if m.FileID, err = r.fileID("file id"); err != nil {
		return err
	}
	if m.Epoch, err = r.u32("epoch"); err != nil {
		return err
	}
	if m.Index, err = r.u32("index"); err != nil {
		return err
	}
	m.Data, err = r.bytes("data", MaxDataLen)
	return err
}

// SyncFile: file ID, epoch, chunks.

func (m *SyncFile) check() error { return nil }

func (m *SyncFile) append(b []byte) []byte {
	b = append(b, m.FileID[:]...)
	b = appendU32(b, m.Epoch)
	return appendU32(b, m.Chunks)
}

func (m *SyncFile) decode(r *reader) (err error) {
	if m.FileID, err = r.fileID("file id"); err != nil {
		return err
	}
	if m.Epoch, err = r.u32("epoch"); err != nil {
		return err
	}
	m.Chunks, err = r.u32("chunks")
	return err
}

// GetChunk: file ID, epoch, index.

func (m *GetChunk) check() error { return nil }

func (m *GetChunk) append(b []byte) []byte {
	b = append(b, m.FileID[:]...)
	b = appendU32(b, m.Epoch)
	return appendU32(b, m.Index)
}

func (m *GetChunk) decode(r *reader) (err error) {
	if m.FileID, err = r.fileID("file id"); err != nil {
		return err
	}
	if m.Epoch, err = r.u32("epoch"); err != nil {
		return err
	}
	m.Index, err = r.u32("index")
	return err
}

// ChunkData: data.

func (m *ChunkData) check() error { return checkBytes("data", m.Data, MaxDataLen) }

func (m *ChunkData) append(b []byte) []byte { return appendBytes(b, m.Data) }

func (m *ChunkData) decode(r *reader) (err error) {
	m.Data, err = r.bytes("data", MaxDataLen)
	return err
}

// DeleteFile: file ID.

func (m *DeleteFile) check() error { return nil }

func (m *DeleteFile) append(b []byte) []byte { return append(b, m.FileID[:]...) }

func (m *DeleteFile) decode(r *reader) (err error) {
	m.FileID, err = r.fileID("file id")
	return err
}

// ListFiles: after (file ID), limit.

func (m *ListFiles) check() error { return nil }

func (m *ListFiles) append(b []byte) []byte {
	b = append(b, m.After[:]...)
	return appendU32(b, m.Limit)
}

func (m *ListFiles) decode(r *reader) (err error) {
	if m.After, err = r.fileID("after"); err != nil {
		return err
	}
	m.Limit, err = r.u32("limit")
	return err
}

// FileList: count (uvarint), count file IDs, more (bool byte).

func (m *FileList) check() error {
	if len(m.IDs) > MaxListIDs {
		return fmt.Errorf("%d ids, at most %d allowed", len(m.IDs), MaxListIDs)
	}
	return nil
}

func (m *FileList) append(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(m.IDs)))
	for _, id := range m.IDs {
		b = append(b, id[:]...)
	}
	return appendBool(b, m.More)
}

func (m *FileList) decode(r *reader) (err error) {
	n, err := r.length("count", MaxListIDs)
	if err != nil {
		return err
	}
	raw, err := r.take(n*FileIDLen, "ids")
	if err != nil {
		return err
	}
	if n > 0 {
		m.IDs = make([]FileID, n)
		for i := range m.IDs {
			copy(m.IDs[i][:], raw[i*FileIDLen:])
		}
	}
	m.More, err = r.bool("more")
	return err
}

// Ping, Pong: nonce.

func (m *Ping) check() error           { return nil }
func (m *Ping) append(b []byte) []byte { return appendU64(b, m.Nonce) }
func (m *Ping) decode(r *reader) (err error) {
	m.Nonce, err = r.u64("nonce")
	return err
}

func (m *Pong) check() error           { return nil }
func (m *Pong) append(b []byte) []byte { return appendU64(b, m.Nonce) }
func (m *Pong) decode(r *reader) (err error) {
	m.Nonce, err = r.u64("nonce")
	return err
}

// Stats, Ok: no fields.

func (m *Stats) check() error           { return nil }
func (m *Stats) append(b []byte) []byte { return b }
func (m *Stats) decode(*reader) error   { return nil }

func (m *Ok) check() error           { return nil }
func (m *Ok) append(b []byte) []byte { return b }
func (m *Ok) decode(*reader) error   { return nil }

// StatsReply: used, free, total, files (u64 each).

func (m *StatsReply) check() error { return nil }

func (m *StatsReply) append(b []byte) []byte {
	b = appendU64(b, m.UsedBytes)
	b = appendU64(b, m.FreeBytes)
	b = appendU64(b, m.TotalBytes)
	return appendU64(b, m.Files)
}

func (m *StatsReply) decode(r *reader) (err error) {
	if m.UsedBytes, err = r.u64("used bytes"); err != nil {
		return err
	}
	if m.FreeBytes, err = r.u64("free bytes"); err != nil {
		return err
	}
	if m.TotalBytes, err = r.u64("total bytes"); err != nil {
		return err
	}
	m.Files, err = r.u64("files")
	return err
}

// RenewPrepare: file ID, from epoch, to epoch, index, delta.

func (m *RenewPrepare) check() error { return checkBytes("delta", m.Delta, MaxDataLen) }

func (m *RenewPrepare) append(b []byte) []byte {
	b = append(b, m.FileID[:]...)
	b = appendU32(b, m.FromEpoch)
	b = appendU32(b, m.ToEpoch)
	b = appendU32(b, m.Index)
	return appendBytes(b, m.Delta)
}

func (m *RenewPrepare) decode(r *reader) (err error) {
	if m.FileID, err = r.fileID("file id"); err != nil {
		return err
	}
	if m.FromEpoch, err = r.u32("from epoch"); err != nil {
		return err
	}
	if m.ToEpoch, err = r.u32("to epoch"); err != nil {
		return err
	}
	if m.Index, err = r.u32("index"); err != nil {
		return err
	}
	m.Delta, err = r.bytes("delta", MaxDataLen)
	return err
}

// RenewCommit, RenewAbort: file ID, epoch.

func (m *RenewCommit) check() error { return nil }

func (m *RenewCommit) append(b []byte) []byte {
	b = append(b, m.FileID[:]...)
	return appendU32(b, m.Epoch)
}

func (m *RenewCommit) decode(r *reader) (err error) {
	if m.FileID, err = r.fileID("file id"); err != nil {
		return err
	}
	m.Epoch, err = r.u32("epoch")
	return err
}

func (m *RenewAbort) check() error { return nil }

func (m *RenewAbort) append(b []byte) []byte {
	b = append(b, m.FileID[:]...)
	return appendU32(b, m.Epoch)
}

func (m *RenewAbort) decode(r *reader) (err error) {
	if m.FileID, err = r.fileID("file id"); err != nil {
		return err
	}
	m.Epoch, err = r.u32("epoch")
	return err
}

// RenewPrepared: digest (32 bytes).

func (m *RenewPrepared) check() error { return nil }

func (m *RenewPrepared) append(b []byte) []byte { return append(b, m.Digest[:]...) }

func (m *RenewPrepared) decode(r *reader) (err error) {
	b, err := r.take(len(m.Digest), "digest")
	copy(m.Digest[:], b)
	return err
}

// Error: code (u16, nonzero), message.

func (m *Error) check() error {
	if m.Code == 0 {
		return errors.New("error code 0")
	}
	return checkString("message", m.Message, MaxTextLen)
}

func (m *Error) append(b []byte) []byte {
	b = appendU16(b, uint16(m.Code))
	return appendString(b, m.Message)
}

func (m *Error) decode(r *reader) (err error) {
	code, err := r.u16("code")
	if err != nil {
		return err
	}
	if code == 0 {
		return errors.New("code: 0 is not an error code")
	}
	m.Code = Code(code)
	m.Message, err = r.string("message", MaxTextLen)
	return err
}

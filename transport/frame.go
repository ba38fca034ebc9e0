package transport

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/flynn/noise"
)

// Frame layout (the plaintext of one Noise transport message):
//
//	[0]     kind
//	[1]     flags: bit 0 MORE = more fragments of this message follow,
//	        bit 1 FIRST = first fragment of a request or response; others 0
//	[2:6]   request id, big-endian uint32 (0 only for goaway)
//	[6:10]  with FIRST only: the whole message's length, big-endian uint32
//	[..]    payload: a fragment of the message, or text for error and goaway
//
// The length in the first fragment lets the receiver refuse an oversize
// message at once and reassemble into a buffer of exact size.
const (
	frameHeaderLen = 6
	lengthLen      = 4
	tagLen         = 16 // AES-GCM tag appended by Noise
	// maxFramePlaintext is the largest frame: a Noise message is at most
	// 65535 bytes including the tag.
	maxFramePlaintext = noise.MaxMsgLen - tagLen
	maxFragment       = maxFramePlaintext - frameHeaderLen
	maxFirstFragment  = maxFragment - lengthLen
	// maxFrameText bounds error and goaway texts (single-frame, UTF-8).
	maxFrameText = 1024
)

type frameKind uint8

const (
	kindRequest  frameKind = 1 // a fragment of a request
	kindResponse frameKind = 2 // a fragment of the reply to a request
	kindError    frameKind = 3 // the request failed in the handler: UTF-8 text
	kindCancel   frameKind = 4 // the caller gave up on a request; empty
	kindGoaway   frameKind = 5 // the sender closes the connection: UTF-8 reason
)

const (
	flagMore  = 0x01
	flagFirst = 0x02
)

type frameHeader struct {
	kind  frameKind
	more  bool
	first bool
	id    uint32
	total uint32 // length of the whole message; first fragments only
}

var errBadFrame = errors.New("malformed frame")

// parseFrame validates a frame's plaintext and splits off its payload (which
// aliases b). Everything a frame's kind forbids is refused here, so the
// reader loop only deals with well-formed frames.
func parseFrame(b []byte) (frameHeader, []byte, error) {
	var h frameHeader
	if len(b) < frameHeaderLen {
		return h, nil, fmt.Errorf("%w: %d bytes, the header alone is %d", errBadFrame, len(b), frameHeaderLen)
	}
	if len(b) > maxFramePlaintext {
		return h, nil, fmt.Errorf("%w: %d bytes, at most %d", errBadFrame, len(b), maxFramePlaintext)
	}
	h.kind = frameKind(b[0])
	flags := b[1]
	h.more = flags&flagMore != 0
	h.first = flags&flagFirst != 0
	h.id = binary.BigEndian.Uint32(b[2:6])
	payload := b[frameHeaderLen:]
	if flags&^(flagMore|flagFirst) != 0 {
		return h, nil, fmt.Errorf("%w: unknown flags %#02x", errBadFrame, flags)
	}
	switch h.kind {
	case kindRequest, kindResponse:
		if h.first {
			if len(payload) < lengthLen {
				return h, nil, fmt.Errorf("%w: first fragment without the message length", errBadFrame)
			}
			h.total = binary.BigEndian.Uint32(payload)
			payload = payload[lengthLen:]
			if uint64(len(payload)) > uint64(h.total) || (!h.more && uint64(len(payload)) != uint64(h.total)) {
				return h, nil, fmt.Errorf("%w: %d-byte fragment does not fit a %d-byte message", errBadFrame, len(payload), h.total)
			}
		}
	case kindError, kindCancel, kindGoaway:
		if h.more || h.first {
			return h, nil, fmt.Errorf("%w: kind %d cannot be fragmented", errBadFrame, h.kind)
		}
		if h.kind == kindCancel && len(payload) != 0 {
			return h, nil, fmt.Errorf("%w: cancel frame with a payload", errBadFrame)
		}
		if len(payload) > maxFrameText || !utf8.Valid(payload) {
			return h, nil, fmt.Errorf("%w: text of kind %d is not UTF-8 of at most %d bytes", errBadFrame, h.kind, maxFrameText)
		}
	default:
		return h, nil, fmt.Errorf("%w: unknown kind %d", errBadFrame, b[0])
	}
	if (h.id == 0) != (h.kind == kindGoaway) {
		return h, nil, fmt.Errorf("%w: request id %d with kind %d (id 0 is for goaway only)", errBadFrame, h.id, h.kind)
	}
	return h, payload, nil
}

// appendFrame appends a frame's plaintext to dst.
func appendFrame(dst []byte, h frameHeader, payload []byte) []byte {
	var flags byte
	if h.more {
		flags |= flagMore
	}
	if h.first {
		flags |= flagFirst
	}
	dst = append(dst, byte(h.kind), flags)
	dst = binary.BigEndian.AppendUint32(dst, h.id)
	if h.first {
		dst = binary.BigEndian.AppendUint32(dst, h.total)
	}
	return append(dst, payload...)
}

// frameText makes an error or goaway text fit one frame: valid UTF-8, cut
// to maxFrameText bytes.
func frameText(s string) []byte {
	b := []byte(s)
	if !utf8.Valid(b) {
		b = []byte(string([]rune(s)))
	}
	if len(b) > maxFrameText {
		cut := maxFrameText
		for cut > 0 && !utf8.RuneStart(b[cut]) {
			cut--
		}
		b = b[:cut]
	}
	return b
}

package webui

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxFileNameBytes is the longest file name accepted, in bytes (as most file
// systems allow, so every stored file can be saved back under its name).
const MaxFileNameBytes = 255

// ValidateFileName reports why name cannot name a stored file, or nil. The
// error wraps ErrBadRequest and its message names the problem.
//
// Names are flat: a retrieved file is saved by browsers and the CLI under its
// name, so separators, "." and ".." would let a name point elsewhere, and
// control or bidirectional-override characters would let one name pass for
// another on screen.
func ValidateFileName(name string) error {
	switch {
	case name == "":
		return Errorf(ErrBadRequest, "the file name is empty")
	case len(name) > MaxFileNameBytes:
		return Errorf(ErrBadRequest, "the file name is %d bytes long; at most %d are allowed", len(name), MaxFileNameBytes)
	case !utf8.ValidString(name):
		return Errorf(ErrBadRequest, "the file name is not valid UTF-8")
	case name == "." || name == "..":
		return Errorf(ErrBadRequest, "the file name cannot be %q", name)
	}
	for _, r := range name {
		switch {
		case r == '/' || r == '\\':
			return Errorf(ErrBadRequest, "the file name contains the path separator %q", r)
		case unicode.IsControl(r) || isBidiControl(r):
			return Errorf(ErrBadRequest, "the file name contains the control character U+%04X", r)
		}
	}
	return nil
}

// isBidiControl reports the explicit bidirectional formatting characters
// (used to make "gpj.exe" look like "exe.jpg").
func isBidiControl(r rune) bool {
	return r == '\u061C' || r == '\u200E' || r == '\u200F' ||
		(r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// contentDisposition returns an attachment Content-Disposition for name
// (RFC 6266): an ASCII filename for old clients and the exact name in
// filename* (RFC 8187), which every current browser prefers.
func contentDisposition(name string) string {
	var fallback, ext strings.Builder
	for _, r := range name {
		if r >= 0x20 && r < 0x7f && r != '"' && r != '\\' && r != '%' {
			fallback.WriteRune(r)
		} else {
			fallback.WriteByte('_')
		}
	}
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		b := name[i]
		if isAttrChar(b) {
			ext.WriteByte(b)
		} else {
			ext.WriteByte('%')
			ext.WriteByte(hex[b>>4])
			ext.WriteByte(hex[b&15])
		}
	}
	return `attachment; filename="` + fallback.String() + `"; filename*=UTF-8''` + ext.String()
}

// isAttrChar reports the bytes RFC 8187 lets through unencoded.
func isAttrChar(b byte) bool {
	switch {
	case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", b) >= 0
}

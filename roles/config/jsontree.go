package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"sort"
	"strconv"
	"strings"
)

// A value is a parsed JSON value that keeps the order of object fields (for
// messages) and the exact text of numbers.
type value struct {
	kind kind
	b    bool
	num  json.Number
	str  string
	arr  []*value
	obj  []member
}

type member struct {
	key string
	val *value
}

type kind int

const (
	kindNull kind = iota
	kindBool
	kindNumber
	kindString
	kindArray
	kindObject
)

// integer returns a number's value if it is a whole number that fits in an
// int64 (1e9 is accepted; 1.5 is not).
func (v *value) integer() (int64, bool) {
	if v.kind != kindNumber {
		return 0, false
	}
	if n, err := strconv.ParseInt(string(v.num), 10, 64); err == nil {
		return n, true
	}
	r, ok := new(big.Rat).SetString(string(v.num))
	if !ok || !r.IsInt() || !r.Num().IsInt64() {
		return 0, false
	}
	return r.Num().Int64(), true
}

// describe shows a value in an error message.
func (v *value) describe() string {
	switch v.kind {
	case kindNull:
		return "null"
	case kindBool:
		return strconv.FormatBool(v.b)
	case kindNumber:
		return truncate(string(v.num))
	case kindString:
		return strconv.Quote(truncate(v.str))
	case kindArray:
		if len(v.arr) == 0 {
			return "an empty list"
		}
		return fmt.Sprintf("a list of %d items", len(v.arr))
	default:
		if len(v.obj) == 0 {
			return "an empty object"
		}
		keys := make([]string, len(v.obj))
		for i, m := range v.obj {
			keys[i] = strconv.Quote(truncate(m.key))
		}
		sort.Strings(keys)
		return "an object with " + strings.Join(keys, ", ")
	}
}

func truncate(s string) string {
	if len(s) > 60 {
		return s[:57] + "..."
	}
	return s
}

// maxDepth bounds nesting: no configuration needs more than a few levels.
const maxDepth = 32

// document parses the whole file into a value.
func (p *parser) document(data []byte) (*value, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // a BOM some editors add
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, p.fail("", "the file is empty (write {} to use every default)")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := p.parseValue(dec, data, 0)
	if err != nil {
		return nil, err
	}
	end := dec.InputOffset()
	if _, err := dec.Token(); err != io.EOF {
		return nil, p.syntax(data, next(data, end), "unexpected text after the end of the JSON value")
	}
	return v, nil
}

func (p *parser) parseValue(dec *json.Decoder, data []byte, depth int) (*value, error) {
	start := next(data, dec.InputOffset())
	if depth > maxDepth {
		return nil, p.syntax(data, start, fmt.Sprintf("nested more than %d levels", maxDepth))
	}
	tok, err := dec.Token()
	if err != nil {
		return nil, p.jsonError(data, dec, err)
	}
	switch t := tok.(type) {
	case nil:
		return &value{kind: kindNull}, nil
	case bool:
		return &value{kind: kindBool, b: t}, nil
	case json.Number:
		return &value{kind: kindNumber, num: t}, nil
	case string:
		return &value{kind: kindString, str: t}, nil
	case json.Delim:
		switch t {
		case '[':
			v := &value{kind: kindArray}
			for dec.More() {
				e, err := p.parseValue(dec, data, depth+1)
				if err != nil {
					return nil, err
				}
				v.arr = append(v.arr, e)
			}
			if _, err := dec.Token(); err != nil {
				return nil, p.jsonError(data, dec, err)
			}
			return v, nil
		case '{':
			v := &value{kind: kindObject}
			seen := map[string]bool{}
			for dec.More() {
				keyStart := next(data, dec.InputOffset())
				kt, err := dec.Token()
				if err != nil {
					return nil, p.jsonError(data, dec, err)
				}
				key, ok := kt.(string)
				if !ok {
					return nil, p.syntax(data, keyStart, "expected a field name")
				}
				if seen[key] {
					return nil, p.syntax(data, keyStart, fmt.Sprintf("field %q appears twice in the same object", key))
				}
				seen[key] = true
				e, err := p.parseValue(dec, data, depth+1)
				if err != nil {
					return nil, err
				}
				v.obj = append(v.obj, member{key, e})
			}
			if _, err := dec.Token(); err != nil {
				return nil, p.jsonError(data, dec, err)
			}
			return v, nil
		}
	}
	return nil, p.syntax(data, start, fmt.Sprintf("unexpected %v", tok))
}

// jsonError turns a decoder error into an Error with a line and column.
func (p *parser) jsonError(data []byte, dec *json.Decoder, err error) error {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se):
		msg := "invalid JSON: " + se.Error()
		if kmsArray(data[:min(int(se.Offset), len(data))]) {
			msg += `; write encryption_and_kms as ["AES", {"address": "...", "port": N}] (the spec's ["AES", "address": ...] is not JSON)`
		}
		// Offset is just past the offending byte for errors of the
		// scanner, and before the whitespace preceding it for errors of
		// the tokenizer.
		pos := se.Offset - 1
		for pos >= 0 && pos < int64(len(data)) && isSpace(data[pos]) {
			pos++
		}
		return p.syntax(data, pos, msg)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return p.syntax(data, int64(len(data)), "invalid JSON: the file ends in the middle of a value")
	}
	return p.syntax(data, next(data, dec.InputOffset()), "invalid JSON: "+err.Error())
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// next skips the whitespace and separators after off: the position of the
// next token.
func next(data []byte, off int64) int64 {
	for off >= 0 && off < int64(len(data)) && bytes.IndexByte([]byte(" \t\r\n,:"), data[off]) >= 0 {
		off++
	}
	return off
}

// kmsArray reports whether a syntax error happened inside the list of
// encryption_and_kms, where the spec's own example is not valid JSON.
func kmsArray(before []byte) bool {
	i := bytes.LastIndex(before, []byte(`"encryption_and_kms"`))
	if i < 0 {
		return false
	}
	rest := before[i:]
	return bytes.IndexByte(rest, '[') >= 0 && bytes.IndexByte(rest, ']') < 0
}

// syntax reports a problem at byte pos of the file as a line and column.
func (p *parser) syntax(data []byte, pos int64, msg string) error {
	offset := min(max(pos, 0), int64(len(data)))
	line := 1 + bytes.Count(data[:offset], []byte("\n"))
	col := int(offset) - bytes.LastIndexByte(data[:offset], '\n')
	return &Error{File: p.file, Msg: fmt.Sprintf("line %d, column %d: %s", line, col, msg)}
}

package transport

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseFrame(t *testing.T) {
	good := []struct {
		in   []byte
		want frameHeader
		body string
	}{
		{[]byte{1, 2, 0, 0, 0, 1, 0, 0, 0, 2, 'h', 'i'}, frameHeader{kind: kindRequest, first: true, id: 1, total: 2}, "hi"},
		{[]byte{1, 3, 0, 0, 1, 0, 0, 1, 0, 0, 'x'}, frameHeader{kind: kindRequest, more: true, first: true, id: 256, total: 65536}, "x"},
		{[]byte{1, 1, 0, 0, 1, 0, 'y'}, frameHeader{kind: kindRequest, more: true, id: 256}, "y"},
		{[]byte{1, 0, 0, 0, 1, 0, 'z'}, frameHeader{kind: kindRequest, id: 256}, "z"},
		{[]byte{2, 2, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0}, frameHeader{kind: kindResponse, first: true, id: 0xFFFFFFFF}, ""},
		{[]byte{3, 0, 0, 0, 0, 9, 'n', 'o'}, frameHeader{kind: kindError, id: 9}, "no"},
		{[]byte{4, 0, 0, 0, 0, 9}, frameHeader{kind: kindCancel, id: 9}, ""},
		{[]byte{5, 0, 0, 0, 0, 0, 'b', 'y', 'e'}, frameHeader{kind: kindGoaway}, "bye"},
	}
	for _, g := range good {
		h, body, err := parseFrame(g.in)
		if err != nil || h != g.want || string(body) != g.body {
			t.Errorf("parseFrame(% x) = %+v, %q, %v; want %+v, %q", g.in, h, body, err, g.want, g.body)
		}
		if re := appendFrame(nil, h, body); !bytes.Equal(re, g.in) {
			t.Errorf("appendFrame gives % x, want % x", re, g.in)
		}
	}
	bad := map[string][]byte{
		"short header":              {1, 0, 0, 0, 1},
		"first without length":      {1, 2, 0, 0, 0, 1, 0, 0, 0},
		"first longer than total":   {1, 2, 0, 0, 0, 1, 0, 0, 0, 1, 'a', 'b'},
		"single shorter than total": {1, 2, 0, 0, 0, 1, 0, 0, 0, 3, 'a', 'b'},
		"first error":               {3, 2, 0, 0, 0, 1},
		"too long":                  append([]byte{1, 0, 0, 0, 0, 1}, make([]byte, maxFragment+1)...),
		"kind 0":                    {0, 0, 0, 0, 0, 1},
		"kind 6":                    {6, 0, 0, 0, 0, 1},
		"unknown flag":              {1, 4, 0, 0, 0, 1},
		"request id 0":              {1, 0, 0, 0, 0, 0},
		"goaway with id":            {5, 0, 0, 0, 0, 1},
		"fragmented error":          {3, 1, 0, 0, 0, 1},
		"fragmented cancel":         {4, 1, 0, 0, 0, 1},
		"cancel with payload":       {4, 0, 0, 0, 0, 1, 'x'},
		"error text not UTF-8":      {3, 0, 0, 0, 0, 1, 0xC3, 0x28},
		"error text over limit":     append([]byte{3, 0, 0, 0, 0, 1}, strings.Repeat("e", maxFrameText+1)...),
	}
	for name, in := range bad {
		if h, _, err := parseFrame(in); err == nil {
			t.Errorf("%s: parseFrame accepted it as %+v", name, h)
		}
	}
}

func TestFrameText(t *testing.T) {
	if got := frameText("ok \xff"); string(got) != "ok \uFFFD" {
		t.Errorf("invalid UTF-8 became %q", got)
	}
	long := frameText(strings.Repeat("é", maxFrameText))
	if len(long) > maxFrameText || !strings.HasPrefix(strings.Repeat("é", maxFrameText), string(long)) {
		t.Errorf("long text cut to %d bytes, or mid-character", len(long))
	}
}

// FuzzParseFrame checks that the frame parser never panics and that any
// frame it accepts re-encodes to the same bytes. Seeds: testdata/fuzz/FuzzParseFrame.
func FuzzParseFrame(f *testing.F) {
	f.Add([]byte{1, 3, 0, 0, 0, 7, 0, 1, 0, 0, 'a', 'b'})
	f.Add([]byte{2, 0, 0, 0, 0, 7, 'c'})
	f.Add([]byte{5, 0, 0, 0, 0, 0, 'b', 'y', 'e'})
	f.Fuzz(func(t *testing.T, in []byte) {
		h, body, err := parseFrame(in)
		if err != nil {
			return
		}
		if h.kind < kindRequest || h.kind > kindGoaway {
			t.Fatalf("accepted kind %d", h.kind)
		}
		if re := appendFrame(nil, h, body); !bytes.Equal(re, in) {
			t.Fatalf("re-encoding differs:\n in % x\nout % x", in, re)
		}
	})
}

// FuzzParseParams does the same for the handshake's transport parameters.
func FuzzParseParams(f *testing.F) {
	f.Add(params{maxInflight: 8, maxMessage: DefaultMaxMessageSize}.marshal())
	f.Fuzz(func(t *testing.T, in []byte) {
		p, err := parseParams(in)
		if err != nil {
			return
		}
		if !bytes.Equal(p.marshal(), in) {
			t.Fatalf("re-encoding of % x differs", in)
		}
	})
}

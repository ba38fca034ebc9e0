package webui

import (
	"errors"
	"fmt"
	"mime"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidateFileNameAccepts(t *testing.T) {
	for _, n := range []string{"a", "report.pdf", ".bashrc", "...", "a..b", "été 2026 — résumé.txt", "日本語.txt", "with space ", "emoji 👩‍💻.png", strings.Repeat("x", MaxFileNameBytes)} {
		if err := ValidateFileName(n); err != nil {
			t.Errorf("%q refused: %v", n, err)
		}
	}
}

func TestValidateFileNameErrorsAreBadRequests(t *testing.T) {
	for _, n := range []string{"", ".", "..", "a/b", `a\b`, "a\x00", "a\u2066b", strings.Repeat("é", 128), "\xc3"} {
		err := ValidateFileName(n)
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("%q: %v, want an ErrBadRequest", n, err)
		}
	}
}

func TestErrorfMessageAndKind(t *testing.T) {
	cause := errors.New("connection reset")
	err := Errorf(ErrUnavailable, "storage server s2 is not connected: %w", cause)
	if err.Error() != "storage server s2 is not connected: connection reset" {
		t.Fatalf("message %q", err.Error())
	}
	if !errors.Is(err, ErrUnavailable) || !errors.Is(err, cause) || errors.Is(err, ErrNotFound) {
		t.Fatal("errors.Is does not see the kind and the cause")
	}
	// Sentinels wrapped the usual way work as well.
	code, msg := classify(t.Context(), fmt.Errorf("%w: %q", ErrNotFound, "a.txt"))
	if code != 404 || msg != `file not found: "a.txt"` {
		t.Fatalf("%d %q", code, msg)
	}
}

func FuzzValidateFileName(f *testing.F) {
	for _, s := range []string{"a", "", ".", "..", "a/b", `a\b`, "é", "\x00", "a\u202eb", "\xff", "x\u0085y", strings.Repeat("a", 256)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidateFileName(name)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("%q: error %v is not ErrBadRequest", name, err)
			}
			return
		}
		// Whatever is accepted is a flat, printable, bounded name...
		if name == "" || name == "." || name == ".." || len(name) > MaxFileNameBytes ||
			!utf8.ValidString(name) || strings.ContainsAny(name, `/\`) {
			t.Fatalf("accepted %q", name)
		}
		for _, r := range name {
			if unicode.IsControl(r) || isBidiControl(r) {
				t.Fatalf("accepted %q with U+%04X", name, r)
			}
		}
		// ...that survives the Content-Disposition header exactly.
		cd := contentDisposition(name)
		if strings.ContainsAny(cd, "\r\n\x00") {
			t.Fatalf("header %q", cd)
		}
		disp, params, perr := mime.ParseMediaType(cd)
		if perr != nil || disp != "attachment" || params["filename"] != name {
			t.Fatalf("%q: header %q parses to %q %q (%v)", name, cd, disp, params["filename"], perr)
		}
	})
}

package webui

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// authRoutes are every route that acts for a user.
var authRoutes = []req{
	get("/api/storage", ""), get("/api/file", ""), get("/api/configuration", ""),
	form("/api/file/protect", ""), form("/api/file/retrieve", "", "name", "a"), form("/api/file/remove", "", "name", "a"),
	get("/storage", ""), get("/file", ""), get("/configuration", ""), get("/who_am_i", ""), get("/api/who_am_i", ""),
	form("/protect_file", ""), form("/retrieve_file", "", "name", "a"), form("/remove_file", "", "name", "a"),
	form("/api/protect_file", ""), form("/api/retrieve_file", "", "name", "a"), form("/api/remove_file", "", "name", "a"),
}

func TestPrivateInstanceRequiresIdentity(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, privateOpts())
	for _, r := range authRoutes {
		wantError(t, r.do(h), http.StatusUnauthorized, "X-Remote-Email")
	}
	// A name without an email is not an identity either.
	r := get("/api/file", "")
	r.header = http.Header{"X-Remote-User": {"alice"}}
	wantError(t, r.do(h), http.StatusUnauthorized, "X-Remote-Email")
	for _, op := range []string{"storage", "files", "protect", "retrieve", "remove"} {
		if svc.called(op) != 0 {
			t.Fatalf("%s reached the service without identity", op)
		}
	}
}

func TestPublicInstanceDefaultUser(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, publicOpts())
	wantSuccess(t, get("/api/file", "").do(h))
	if svc.lastUser != (User{Name: DefaultUserName, Email: DefaultUserEmail}) {
		t.Fatalf("acted for %+v", svc.lastUser)
	}
	// Headers, when given, still name the user.
	wantSuccess(t, get("/api/file", alice).do(h))
	if svc.lastUser.Email != alice {
		t.Fatalf("acted for %+v", svc.lastUser)
	}
}

func TestIdentityHeaderSpellings(t *testing.T) {
	svc := newFake()
	h, _ := testRouter(t, svc, privateOpts())
	for _, hdr := range []http.Header{
		{"X-Remote-Email": {alice}, "X-Remote-User": {"Alice"}},
		{"Remote-Email": {alice}, "Remote-User": {"Alice"}},
		{"Remote-Email": {alice}, "X-Remote-Email": {alice}, "Remote-User": {"Alice"}},
	} {
		r := get("/api/file", "")
		r.header = hdr
		wantSuccess(t, r.do(h))
		if svc.lastUser != (User{Name: "Alice", Email: alice}) {
			t.Fatalf("%v: acted for %+v", hdr, svc.lastUser)
		}
	}
}

func TestIdentityHeaderRefusals(t *testing.T) {
	cases := map[string]struct {
		h    http.Header
		code int
		msg  string
	}{
		"spellings disagree": {http.Header{"Remote-Email": {alice}, "X-Remote-Email": {bob}}, 400, "disagree"},
		"given twice":        {http.Header{"X-Remote-Email": {alice, bob}}, 400, "given 2 times"},
		"empty":              {http.Header{"X-Remote-Email": {""}}, 400, "is empty"},
		"too long":           {http.Header{"X-Remote-Email": {strings.Repeat("a", 250) + "@b.cd"}}, 400, "longer than 254 bytes"},
		"control character":  {http.Header{"X-Remote-Email": {"a\x7fb@c"}}, 400, "control character"},
		"invalid UTF-8":      {http.Header{"X-Remote-Email": {"a\xff@c"}}, 400, "UTF-8"},
		"bad name header":    {http.Header{"X-Remote-Email": {alice}, "X-Remote-User": {"a\x01"}}, 400, "X-Remote-User header contains a control character"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			svc := newFake()
			h, _ := testRouter(t, svc, publicOpts())
			r := get("/api/file", "")
			r.header = tc.h
			wantError(t, r.do(h), tc.code, tc.msg)
			if svc.called("files") != 0 {
				t.Fatal("the service was called")
			}
		})
	}
}

func TestTrustedProxies(t *testing.T) {
	for _, public := range []bool{false, true} {
		opts := privateOpts()
		if public {
			opts = publicOpts()
		}
		opts.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("::1/128")}
		svc := newFake()
		h, _ := testRouter(t, svc, opts)

		for _, peer := range []string{"10.1.2.3:5000", "[::ffff:10.1.2.3]:5000", "[::1]:443"} {
			r := get("/api/file", alice)
			r.remote = peer
			wantSuccess(t, r.do(h))
		}
		// An untrusted peer may not claim an identity, whatever X-Forwarded-For says.
		r := get("/api/file", alice)
		r.remote = "192.0.2.7:5000"
		r.header = http.Header{"X-Forwarded-For": {"10.1.2.3"}}
		wantError(t, r.do(h), http.StatusForbidden, "trusted proxies")
		r = form("/api/file/remove", bob, "name", "a")
		r.remote = "192.0.2.7:5000"
		wantError(t, r.do(h), http.StatusForbidden, "trusted proxies")
		if svc.called("remove") != 0 {
			t.Fatal("Remove was called for an untrusted peer")
		}
		// Without headers: the default user when public, 401 when private.
		r = get("/api/file", "")
		r.remote = "192.0.2.7:5000"
		if public {
			wantSuccess(t, r.do(h))
		} else {
			wantError(t, r.do(h), http.StatusUnauthorized, "authentication required")
		}
	}
}

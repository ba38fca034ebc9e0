package webui

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"unicode"
	"unicode/utf8"

	"github.com/gin-gonic/gin"
)

// maxIdentityBytes bounds an identity header value (the longest valid email
// address is 254 bytes).
const maxIdentityBytes = 254

// identify resolves the user a request acts for and stores it in the
// context, or answers 400/401/403.
//
// An authentication proxy in front of Qasmat sets one header pair and passes
// the others through from the client, so two spellings that disagree, or a
// header given twice, are refused rather than one being picked: otherwise a
// client could add X-Remote-Email next to the proxy's Remote-Email.
func (a *api) identify(c *gin.Context) {
	email, emailSet, err := identityHeader(c.Request.Header, "X-Remote-Email", "Remote-Email")
	if err != nil {
		a.fail(c, err)
		return
	}
	name, nameSet, err := identityHeader(c.Request.Header, "X-Remote-User", "Remote-User")
	if err != nil {
		a.fail(c, err)
		return
	}
	if (emailSet || nameSet) && !a.trustedPeer(c.Request) {
		a.fail(c, Errorf(ErrForbidden, "identity headers are accepted only from the trusted proxies"))
		return
	}
	switch {
	case emailSet:
	case a.public && !nameSet:
		email, name = DefaultUserEmail, DefaultUserName
	default:
		a.fail(c, Errorf(errUnauthenticated, "authentication required: the X-Remote-Email (or Remote-Email) header is missing"))
		return
	}
	if name == "" {
		name = email
	}
	c.Set(ctxUser, User{Name: name, Email: email})
	c.Next()
}

// identityHeader returns the single value of the header under either
// spelling, whether it was present, and an error for an ambiguous or invalid
// value.
func identityHeader(h http.Header, names ...string) (string, bool, error) {
	var value, from string
	for _, n := range names {
		vs := h.Values(n)
		if len(vs) == 0 {
			continue
		}
		if len(vs) > 1 {
			return "", false, Errorf(ErrBadRequest, "the %s header is given %d times", n, len(vs))
		}
		if from != "" && vs[0] != value {
			return "", false, Errorf(ErrBadRequest, "the %s and %s headers disagree", from, n)
		}
		value, from = vs[0], n
	}
	if from == "" {
		return "", false, nil
	}
	if err := checkIdentity(value); err != nil {
		return "", false, Errorf(ErrBadRequest, "the %s header %v", from, err)
	}
	return value, true, nil
}

// checkIdentity validates an identity header value.
func checkIdentity(v string) error {
	switch {
	case v == "":
		return errors.New("is empty")
	case len(v) > maxIdentityBytes:
		return fmt.Errorf("is longer than %d bytes", maxIdentityBytes)
	case !utf8.ValidString(v):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) {
			return errors.New("contains a control character")
		}
	}
	return nil
}

// trustedPeer reports whether the TCP peer may set identity headers.
func (a *api) trustedPeer(r *http.Request) bool {
	if len(a.opts.TrustedProxies) == 0 {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	for _, p := range a.opts.TrustedProxies {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

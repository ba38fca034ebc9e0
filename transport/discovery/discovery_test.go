package discovery

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/mdns"
	"github.com/miekg/dns"

	"github.com/qasmat/qasmat/transport"
)

func key(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

func proxyAt(k []byte, addr string) Proxy {
	return Proxy{Addr: addr, Key: k, Fingerprint: transport.Fingerprint(k), Proto: 1}
}

func TestChoose(t *testing.T) {
	a, b := proxyAt(key(1), "10.0.0.1:49999"), proxyAt(key(2), "10.0.0.2:49999")
	if _, err := Choose(nil, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no proxy: err = %v, want ErrNotFound", err)
	}
	if p, err := Choose([]Proxy{a}, nil); err != nil || p.Addr != a.Addr {
		t.Fatalf("only proxy, none pinned: %v %v", p, err)
	}
	_, err := Choose([]Proxy{a, b}, nil)
	if !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("two proxies, none pinned: err = %v, want ErrAmbiguous", err)
	}
	for _, want := range []string{"Remote", "pinned-proxy.key", a.Fingerprint, b.Fingerprint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ambiguity error %q does not mention %q", err, want)
		}
	}
	if p, err := Choose([]Proxy{a, b}, key(2)); err != nil || p.Addr != b.Addr {
		t.Fatalf("two proxies, b pinned: %v %v", p, err)
	}
	if _, err := Choose([]Proxy{a}, key(3)); !errors.Is(err, ErrPinnedNotFound) {
		t.Fatalf("pinned proxy absent: err = %v, want ErrPinnedNotFound", err)
	}
}

func TestParseEntry(t *testing.T) {
	k := key(7)
	good := func() *mdns.ServiceEntry {
		return &mdns.ServiceEntry{Name: "x", AddrV4: net.IPv4(10, 99, 0, 1), Port: 49999, InfoFields: txtRecords(k)}
	}
	p, err := parseEntry(good())
	if err != nil {
		t.Fatal(err)
	}
	if p.Addr != "10.99.0.1:49999" || !bytes.Equal(p.Key, k) || p.Fingerprint != transport.Fingerprint(k) {
		t.Fatalf("parsed %+v", p)
	}
	cases := map[string]func(e *mdns.ServiceEntry){
		"no key":           func(e *mdns.ServiceEntry) { e.InfoFields = e.InfoFields[:2] },
		"short key":        func(e *mdns.ServiceEntry) { e.InfoFields[2] = "key=abcd" },
		"fingerprint lies": func(e *mdns.ServiceEntry) { e.InfoFields[1] = "fp=0000000000000000" },
		"other version":    func(e *mdns.ServiceEntry) { e.InfoFields[0] = "proto=99" },
		"no address":       func(e *mdns.ServiceEntry) { e.AddrV4 = nil },
		"no port":          func(e *mdns.ServiceEntry) { e.Port = 0 },
	}
	for name, mutate := range cases {
		e := good()
		mutate(e)
		if _, err := parseEntry(e); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestZoneRecords checks what a query for the service returns: the PTR, the
// SRV with the peer port, the TXT with the key, and an A record.
func TestZoneRecords(t *testing.T) {
	k := key(9)
	z := &zone{instance: "qasmat-x", host: "qasmat-x.local.", port: 4242, txt: txtRecords(k), ips: []net.IP{net.IPv4(10, 99, 0, 1)}}
	rrs := z.Records(dns.Question{Name: Service + ".local.", Qtype: dns.TypePTR, Qclass: dns.ClassINET})
	var srv, txt, a bool
	for _, rr := range rrs {
		switch r := rr.(type) {
		case *dns.SRV:
			srv = r.Port == 4242
		case *dns.TXT:
			txt = strings.Join(r.Txt, " ") == strings.Join(txtRecords(k), " ")
		case *dns.A:
			a = r.A.Equal(net.IPv4(10, 99, 0, 1))
		}
	}
	if !srv || !txt || !a {
		t.Fatalf("records %v: srv %v txt %v a %v", rrs, srv, txt, a)
	}
	if rrs := (&zone{instance: "q", host: "q.local.", port: 1, txt: z.txt, ips: []net.IP{net.IPv4zero}}).Records(
		dns.Question{Name: Service + ".local.", Qtype: dns.TypePTR}); rrs != nil {
		t.Fatalf("a zone without an address answered %v", rrs)
	}
}

func TestAnnounceRejectsBadOptions(t *testing.T) {
	if _, err := Announce(AnnounceOptions{Port: 0, Key: key(1)}); err == nil {
		t.Error("port 0 accepted")
	}
	if _, err := Announce(AnnounceOptions{Port: 1, Key: key(1)[:31]}); err == nil {
		t.Error("31-byte key accepted")
	}
}

// TestAnnounceBrowseLoopback announces and browses over the loopback
// interface: queries and answers stay on lo (the browser's group membership
// is the kernel's default, which costs one IGMP report). Kernels or sandboxes where
// lo cannot carry multicast skip; test/netns covers real links.
func TestAnnounceBrowseLoopback(t *testing.T) {
	lo, err := loopback()
	if err != nil {
		t.Skipf("SKIP: no loopback interface: %v", err)
	}
	k := key(5)
	a, err := Announce(AnnounceOptions{Port: 45678, Key: k, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Iface: lo})
	if err != nil {
		t.Skipf("SKIP: cannot join the mDNS group on loopback here: %v", err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var found []Proxy
	for range 3 {
		found, err = Browse(ctx, BrowseOptions{Timeout: 500 * time.Millisecond, Iface: lo})
		if err != nil {
			t.Skipf("SKIP: mDNS query over loopback not possible here: %v", err)
		}
		if len(found) > 0 {
			break
		}
	}
	var mine *Proxy
	for i := range found {
		if bytes.Equal(found[i].Key, k) {
			mine = &found[i]
		}
	}
	if mine == nil {
		t.Skipf("SKIP: loopback does not deliver multicast here (found %v)", found)
	}
	if mine.Addr != "127.0.0.1:45678" {
		t.Fatalf("found %+v, want address 127.0.0.1:45678", *mine)
	}
	addr, err := Find(ctx, BrowseOptions{Timeout: 500 * time.Millisecond, Iface: lo}, k)
	if err != nil || addr != "127.0.0.1:45678" {
		t.Fatalf("Find with the key pinned: %q, %v", addr, err)
	}
	a.Close()
	if found, err := Browse(ctx, BrowseOptions{Timeout: 300 * time.Millisecond, Iface: lo}); err == nil {
		for _, p := range found {
			if bytes.Equal(p.Key, k) {
				t.Fatal("a closed announcer still answers")
			}
		}
	}
}

func loopback() (*net.Interface, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifs {
		if ifs[i].Flags&net.FlagLoopback != 0 {
			return &ifs[i], nil
		}
	}
	return nil, errors.New("none")
}

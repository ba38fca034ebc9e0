package kms

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// PKI file names written by WritePKI, inside its folder.
const (
	CAFile        = "ca.pem"
	CAKeyFile     = "ca-key.pem"
	KMECertFile   = "kme.pem"
	KMEKeyFile    = "kme-key.pem"
	certValidity  = 2 * 365 * 24 * time.Hour
	pkiFolderMode = 0o700
)

// SAECertFile and SAEKeyFile name the client certificate and key of an SAE.
func SAECertFile(sae string) string { return "sae-" + sae + ".pem" }
func SAEKeyFile(sae string) string  { return "sae-" + sae + "-key.pem" }

var saeIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// WritePKI writes a new CA, the key manager's server certificate (for
// 127.0.0.1, ::1, localhost and hosts) and one client certificate per SAE
// (CN = the SAE ID) into dir, all ECDSA P-256. It refuses to overwrite an
// existing CA: certificates already given out would stop working.
func WritePKI(dir string, saes, hosts []string) error {
	if len(saes) == 0 {
		return errors.New("kms: pki: at least one SAE ID is needed")
	}
	for _, s := range saes {
		if !saeIDPattern.MatchString(s) {
			return fmt.Errorf("kms: pki: SAE ID %q: use 1 to 64 letters, digits, '.', '_' or '-'", s)
		}
	}
	if err := os.MkdirAll(dir, pkiFolderMode); err != nil {
		return fmt.Errorf("kms: pki: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, CAFile)); err == nil {
		return fmt.Errorf("kms: pki: %s already holds a CA; use another folder", dir)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Qasmat QKD key manager CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(certValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("kms: pki: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := writePair(dir, CAFile, CAKeyFile, caDER, caKey); err != nil {
		return err
	}
	leaf := func(cn string, usage x509.ExtKeyUsage, dns []string, ips []net.IP, certName, keyName string) error {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return err
		}
		t := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certValidity),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			DNSNames: dns, IPAddresses: ips,
		}
		der, err := x509.CreateCertificate(rand.Reader, t, ca, &k.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("kms: pki: %s: %w", cn, err)
		}
		return writePair(dir, certName, keyName, der, k)
	}
	dns := []string{"localhost"}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else if h != "" {
			dns = append(dns, h)
		}
	}
	if err := leaf("qasmat-kme", x509.ExtKeyUsageServerAuth, dns, ips, KMECertFile, KMEKeyFile); err != nil {
		return err
	}
	for _, s := range saes {
		if err := leaf(s, x509.ExtKeyUsageClientAuth, nil, nil, SAECertFile(s), SAEKeyFile(s)); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writePair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("kms: pki: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return fmt.Errorf("kms: pki: %w", err)
	}
	return nil
}

func loadPool(caFile string) (*x509.CertPool, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("kms: CA certificate: %w", err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("kms: CA certificate %s: no PEM certificate in it", caFile)
	}
	return p, nil
}

// ServerTLSConfig is the key manager's TLS: its certificate, and client
// certificates checked against the CA when given. A request without one is
// answered 401 by the handler, as the standard says, instead of failing the
// handshake with an error no ETSI client can show.
func ServerTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("kms: server certificate: %w", err)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12, // ETSI GS QKD 014 requires TLS 1.2 or later
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}, nil
}

// ClientTLSConfig is an SAE's TLS: the CA that signed the key manager and,
// unless certFile is empty, the SAE's client certificate.
func ClientTLSConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("kms: client certificate: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

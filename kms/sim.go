package kms

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// SimOptions configures a Simulator. Zero values take the defaults below.
type SimOptions struct {
	DataDir          string        // pebble folder (required)
	Rate             float64       // key bits produced per second per SAE pair (0: none after the initial fill)
	PoolBits         int           // bound of each pair's pool, in bits (default 1 Mbit)
	KeyLifetime      time.Duration // how long a key waits for its slave (default 1 h)
	KeySize          int           // default key size in bits (default 256)
	MinKeySize       int           // default 64
	MaxKeySize       int           // default 65536
	MaxKeyPerRequest int           // default 128
	MaxSAEIDCount    int           // additional slaves per request (default 8)
	SourceKMEID      string        // default "qasmat-kme-a"
	TargetKMEID      string        // default "qasmat-kme-b"
	// InsecureHTTP takes the caller's SAE ID from SAEIDHeader when the request
	// came without TLS. Only for the loopback demo mode.
	InsecureHTTP bool
	Now          func() time.Time // clock, for tests (default time.Now)
}

func (o *SimOptions) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.PoolBits, 1<<20)
	def(&o.KeySize, 256)
	def(&o.MinKeySize, 64)
	def(&o.MaxKeySize, 65536)
	def(&o.MaxKeyPerRequest, 128)
	def(&o.MaxSAEIDCount, 8)
	if o.KeyLifetime == 0 {
		o.KeyLifetime = time.Hour
	}
	if o.SourceKMEID == "" {
		o.SourceKMEID = "qasmat-kme-a"
	}
	if o.TargetKMEID == "" {
		o.TargetKMEID = "qasmat-kme-b"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Simulator is a linked pair of ETSI GS QKD 014 key managers in one process.
// A key handed to a master SAE (enc_keys) is kept until each slave it was
// made for fetches it once (dec_keys), or until its lifetime ends; every
// change is synced to pebble before the answer, so no key is ever served
// twice, even across a crash.
type Simulator struct {
	opts SimOptions
	mu   sync.Mutex
	db   *pebble.DB
	// pools caches the pool level of each SAE pair (the QKD link between
	// their two key managers); it is persisted with every consumption.
	pools map[string]*pool
}

type pool struct {
	bits float64
	at   time.Time
}

// pebble key schema: "p/" + pair -> pool (float64 bits, unix nanos);
// "k/" + key ID -> pending key (see encodePending).
const (
	prefixPool = "p/"
	prefixKey  = "k/"
)

// OpenSimulator opens (creating if needed) the simulator's state in
// opts.DataDir.
func OpenSimulator(opts SimOptions) (*Simulator, error) {
	opts.defaults()
	if opts.DataDir == "" {
		return nil, errors.New("kms: simulator needs a data folder")
	}
	if opts.KeySize%8 != 0 || opts.MinKeySize%8 != 0 || opts.MaxKeySize%8 != 0 ||
		opts.MinKeySize > opts.KeySize || opts.KeySize > opts.MaxKeySize || opts.PoolBits < opts.KeySize || opts.Rate < 0 {
		return nil, fmt.Errorf("kms: inconsistent key sizes or pool (min %d, default %d, max %d, pool %d bits, rate %g)",
			opts.MinKeySize, opts.KeySize, opts.MaxKeySize, opts.PoolBits, opts.Rate)
	}
	cache := pebble.NewCache(4 << 20)
	defer cache.Unref()
	db, err := pebble.Open(opts.DataDir, &pebble.Options{Cache: cache, Logger: quietLogger{}})
	if err != nil {
		return nil, fmt.Errorf("kms: open %s: %w", opts.DataDir, err)
	}
	s := &Simulator{opts: opts, db: db, pools: map[string]*pool{}}
	if err := s.sweepExpired(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

// sweepExpired deletes the keys whose lifetime ended while nobody asked for
// them (an expired key met later is refused and deleted on the spot).
func (s *Simulator) sweepExpired() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixKey), UpperBound: []byte("k0")})
	if err != nil {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	now := s.opts.Now()
	for it.First(); it.Valid(); it.Next() {
		p, err := decodePending(it.Value())
		if err != nil || !now.Before(p.expires) {
			_ = b.Delete(append([]byte(nil), it.Key()...), nil)
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// pendingKeys counts the keys waiting for a slave (tests, status).
func (s *Simulator) pendingKeys() (int, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefixKey), UpperBound: []byte("k0")})
	if err != nil {
		return 0, err
	}
	n := 0
	for it.First(); it.Valid(); it.Next() {
		n++
	}
	return n, it.Close()
}

// Close closes the state store. In-flight requests must be finished.
func (s *Simulator) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// Handler returns the ETSI GS QKD 014 routes.
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/keys/{sae}/status", s.auth(s.status))
	mux.HandleFunc("GET /api/v1/keys/{sae}/enc_keys", s.auth(s.encKeysGet))
	mux.HandleFunc("POST /api/v1/keys/{sae}/enc_keys", s.auth(s.encKeysPost))
	mux.HandleFunc("GET /api/v1/keys/{sae}/dec_keys", s.auth(s.decKeysGet))
	mux.HandleFunc("POST /api/v1/keys/{sae}/dec_keys", s.auth(s.decKeysPost))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusBadRequest, "no such ETSI GS QKD 014 endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

type callerHandler func(w http.ResponseWriter, r *http.Request, caller string)

// auth finds the caller's SAE ID: the client certificate's CN over TLS (the
// TLS layer already checked it against the CA), the header in plain HTTP.
func (s *Simulator) auth(h callerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var caller string
		switch {
		case r.TLS != nil && len(r.TLS.PeerCertificates) > 0:
			caller = r.TLS.PeerCertificates[0].Subject.CommonName
		case r.TLS == nil && s.opts.InsecureHTTP:
			caller = r.Header.Get(SAEIDHeader)
		}
		if caller == "" {
			msg := "a client certificate is required (its CN is the SAE ID)"
			if r.TLS == nil {
				msg = "the " + SAEIDHeader + " header is required (plain-HTTP demo mode)"
			}
			writeError(w, http.StatusUnauthorized, msg)
			return
		}
		h(w, r, caller)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string, details ...map[string]any) {
	writeJSON(w, code, Error{Message: msg, Details: details})
}

// simError is an answer the handlers turn into the standard's error body.
type simError struct {
	code int
	msg  string
}

func (e *simError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &simError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

func (s *Simulator) fail(w http.ResponseWriter, err error) {
	var se *simError
	if errors.As(err, &se) {
		writeError(w, se.code, se.msg)
		return
	}
	// A storage failure: the standard's only server error is 503.
	writeError(w, http.StatusServiceUnavailable, "key manager storage failure", map[string]any{"error": err.Error()})
}

func pairKey(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "\x00" + b
}

// level returns the pool of a pair, filled up to now. A new pair starts
// full so that a demo works at once. Callers hold s.mu.
func (s *Simulator) level(pair string) (*pool, error) {
	now := s.opts.Now()
	p, ok := s.pools[pair]
	if !ok {
		v, closer, err := s.db.Get([]byte(prefixPool + pair))
		switch {
		case errors.Is(err, pebble.ErrNotFound):
			p = &pool{bits: float64(s.opts.PoolBits), at: now}
		case err != nil:
			return nil, err
		case len(v) != 16:
			closer.Close()
			return nil, errors.New("corrupt pool record")
		default:
			p = &pool{bits: math.Float64frombits(binary.BigEndian.Uint64(v)), at: time.Unix(0, int64(binary.BigEndian.Uint64(v[8:])))}
			closer.Close()
		}
		s.pools[pair] = p
	}
	if dt := now.Sub(p.at); dt > 0 {
		p.bits = min(float64(s.opts.PoolBits), p.bits+s.opts.Rate*dt.Seconds())
		p.at = now
	}
	return p, nil
}

func (s *Simulator) status(w http.ResponseWriter, r *http.Request, caller string) {
	slave := r.PathValue("sae")
	s.mu.Lock()
	if s.db == nil {
		s.mu.Unlock()
		s.fail(w, errors.New("closed"))
		return
	}
	p, err := s.level(pairKey(caller, slave))
	s.mu.Unlock()
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, Status{
		SourceKMEID: s.opts.SourceKMEID, TargetKMEID: s.opts.TargetKMEID,
		MasterSAEID: caller, SlaveSAEID: slave,
		KeySize:          s.opts.KeySize,
		StoredKeyCount:   int(p.bits) / s.opts.KeySize,
		MaxKeyCount:      s.opts.PoolBits / s.opts.KeySize,
		MaxKeyPerRequest: s.opts.MaxKeyPerRequest,
		MaxKeySize:       s.opts.MaxKeySize, MinKeySize: s.opts.MinKeySize,
		MaxSAEIDCount: s.opts.MaxSAEIDCount,
	})
}

func (s *Simulator) encKeysGet(w http.ResponseWriter, r *http.Request, caller string) {
	var req KeyRequest
	q := r.URL.Query()
	for name, dst := range map[string]*int{"number": &req.Number, "size": &req.Size} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %q is not an integer", name, v))
				return
			}
			if n <= 0 {
				writeError(w, http.StatusBadRequest, fmt.Sprintf("%s: %d is not positive", name, n))
				return
			}
			*dst = n
		}
	}
	s.encKeys(w, r.PathValue("sae"), caller, req)
}

func (s *Simulator) encKeysPost(w http.ResponseWriter, r *http.Request, caller string) {
	var req KeyRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if req.Number < 0 || req.Size < 0 {
		writeError(w, http.StatusBadRequest, "number and size must be positive")
		return
	}
	if len(req.ExtensionMandatory) > 0 {
		writeError(w, http.StatusBadRequest, "extension_mandatory: no extension is supported")
		return
	}
	s.encKeys(w, r.PathValue("sae"), caller, req)
}

func decodeBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("reading the request body: %w", err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("the request body is not the standard's JSON object: %v", err)
	}
	return nil
}

func (s *Simulator) encKeys(w http.ResponseWriter, slave, master string, req KeyRequest) {
	if req.Number == 0 {
		req.Number = 1
	}
	if req.Size == 0 {
		req.Size = s.opts.KeySize
	}
	keys, err := s.makeKeys(master, slave, req)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, KeyContainer{Keys: keys})
}

func (s *Simulator) makeKeys(master, slave string, req KeyRequest) ([]Key, error) {
	o := &s.opts
	switch {
	case req.Number > o.MaxKeyPerRequest:
		return nil, badRequest("number: %d is over max_key_per_request %d", req.Number, o.MaxKeyPerRequest)
	case req.Size%8 != 0:
		return nil, badRequest("size: %d bits is not a multiple of 8", req.Size)
	case req.Size < o.MinKeySize || req.Size > o.MaxKeySize:
		return nil, badRequest("size: %d bits is not between min_key_size %d and max_key_size %d", req.Size, o.MinKeySize, o.MaxKeySize)
	case len(req.AdditionalSlaveSAEIDs) > o.MaxSAEIDCount:
		return nil, badRequest("additional_slave_SAE_IDs: %d IDs, over max_SAE_ID_count %d", len(req.AdditionalSlaveSAEIDs), o.MaxSAEIDCount)
	case slave == master:
		return nil, badRequest("slave_SAE_ID %q is the caller itself", slave)
	}
	slaves := []string{slave}
	for _, a := range req.AdditionalSlaveSAEIDs {
		if a == "" || a == master || slices.Contains(slaves, a) {
			return nil, badRequest("additional_slave_SAE_IDs: %q is empty, the caller or repeated", a)
		}
		slaves = append(slaves, a)
	}
	need := float64(req.Number * req.Size)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil, errors.New("closed")
	}
	// Every link (master to each slave) gives the bits.
	pools := make([]*pool, len(slaves))
	for i, sl := range slaves {
		p, err := s.level(pairKey(master, sl))
		if err != nil {
			return nil, err
		}
		if p.bits < need {
			return nil, &simError{http.StatusServiceUnavailable, fmt.Sprintf("key pool empty: %d bits requested, %d available on the link %s-%s", int(need), int(p.bits), master, sl)}
		}
		pools[i] = p
	}
	expires := o.Now().Add(o.KeyLifetime)
	b := s.db.NewBatch()
	defer b.Close()
	keys := make([]Key, req.Number)
	for i := range keys {
		k := make([]byte, req.Size/8)
		_, _ = rand.Read(k)

		id := newUUID()
		keys[i] = Key{KeyID: id, Key: k}
		if err := b.Set([]byte(prefixKey+id), encodePending(master, slaves, expires, k), nil); err != nil {
			return nil, err
		}
	}
	for i, sl := range slaves {
		pools[i].bits -= need
		if err := b.Set([]byte(prefixPool+pairKey(master, sl)), encodePool(pools[i]), nil); err != nil {
			return nil, err
		}
	}
	if err := b.Commit(pebble.Sync); err != nil {
		// The in-memory pool was debited; drop it so it reloads from disk.
		for _, sl := range slaves {
			delete(s.pools, pairKey(master, sl))
		}
		return nil, err
	}
	return keys, nil
}

func encodePool(p *pool) []byte {
	v := make([]byte, 16)
	binary.BigEndian.PutUint64(v, math.Float64bits(p.bits))
	binary.BigEndian.PutUint64(v[8:], uint64(p.at.UnixNano()))
	return v
}

func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 9562 variant
	const hex = "0123456789abcdef"
	var sb strings.Builder
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			sb.WriteByte('-')
		}
		sb.WriteByte(hex[c>>4])
		sb.WriteByte(hex[c&15])
	}
	return sb.String()
}

// pending is a key waiting for its slaves.
type pending struct {
	master  string
	slaves  []string // those that have not fetched it yet
	expires time.Time
	key     []byte
}

// encodePending: JSON is enough for a simulator and readable in a debugger.
func encodePending(master string, slaves []string, expires time.Time, key []byte) []byte {
	v, _ := json.Marshal(struct {
		M string   `json:"m"`
		S []string `json:"s"`
		E int64    `json:"e"`
		K []byte   `json:"k"`
	}{master, slaves, expires.UnixNano(), key})
	return v
}

func decodePending(v []byte) (pending, error) {
	var r struct {
		M string   `json:"m"`
		S []string `json:"s"`
		E int64    `json:"e"`
		K []byte   `json:"k"`
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return pending{}, fmt.Errorf("corrupt key record: %w", err)
	}
	return pending{r.M, r.S, time.Unix(0, r.E), r.K}, nil
}

func (s *Simulator) decKeysGet(w http.ResponseWriter, r *http.Request, caller string) {
	id := r.URL.Query().Get("key_ID")
	if id == "" {
		writeError(w, http.StatusBadRequest, "key_ID: missing")
		return
	}
	s.decKeys(w, r.PathValue("sae"), caller, []string{id})
}

func (s *Simulator) decKeysPost(w http.ResponseWriter, r *http.Request, caller string) {
	var req KeyIDs
	if err := decodeBody(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	ids := make([]string, len(req.KeyIDs))
	for i, k := range req.KeyIDs {
		ids[i] = k.KeyID
	}
	s.decKeys(w, r.PathValue("sae"), caller, ids)
}

func (s *Simulator) decKeys(w http.ResponseWriter, master, caller string, ids []string) {
	keys, err := s.takeKeys(master, caller, ids)
	if err != nil {
		s.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, KeyContainer{Keys: keys})
}

// takeKeys hands the keys to a slave, all or none. A key that does not exist,
// was made for another SAE or another master, was already fetched by this
// slave or has expired gets the same answer, so that a wrong SAE learns
// nothing about other SAEs' keys.
func (s *Simulator) takeKeys(master, caller string, ids []string) ([]Key, error) {
	switch {
	case len(ids) == 0:
		return nil, badRequest("key_IDs: no key ID")
	case len(ids) > s.opts.MaxKeyPerRequest:
		return nil, badRequest("key_IDs: %d keys, over max_key_per_request %d", len(ids), s.opts.MaxKeyPerRequest)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil, errors.New("closed")
	}
	now := s.opts.Now()
	b := s.db.NewBatch()
	defer b.Close()
	keys := make([]Key, 0, len(ids))
	for i, id := range ids {
		if slices.Contains(ids[:i], id) {
			return nil, badRequest("key_IDs: %q is repeated", id)
		}
		v, closer, err := s.db.Get([]byte(prefixKey + id))
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, badRequest("key_ID %q: no such key for SAE %q from master SAE %q", id, caller, master)
		}
		if err != nil {
			return nil, err
		}
		p, err := decodePending(v)
		closer.Close()
		if err != nil {
			return nil, err
		}
		if p.master != master || !slices.Contains(p.slaves, caller) || !now.Before(p.expires) {
			if !now.Before(p.expires) {
				_ = b.Delete([]byte(prefixKey+id), nil)
			}
			return nil, badRequest("key_ID %q: no such key for SAE %q from master SAE %q", id, caller, master)
		}
		p.slaves = slices.DeleteFunc(p.slaves, func(x string) bool { return x == caller })
		if len(p.slaves) == 0 {
			err = b.Delete([]byte(prefixKey+id), nil)
		} else {
			err = b.Set([]byte(prefixKey+id), encodePending(p.master, p.slaves, p.expires, p.key), nil)
		}
		if err != nil {
			return nil, err
		}
		keys = append(keys, Key{KeyID: id, Key: p.key})
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, err
	}
	return keys, nil
}

// quietLogger drops pebble's informational lines (one per flush and
// compaction), which would drown the role's log, and keeps errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}

func (quietLogger) Errorf(format string, args ...any) {
	log.Printf("kms: pebble: "+format, args...)
}

func (quietLogger) Fatalf(format string, args ...any) {
	log.Fatalf("kms: pebble: "+format, args...)
}

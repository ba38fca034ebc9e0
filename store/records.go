package store

import "time"

// ShareSlot is one share of a file: the x coordinate of its share and the
// storage server that holds it (known by its Noise public key; the name is
// what the API shows).
type ShareSlot struct {
	X          int
	ServerKey  [32]byte
	ServerName string
}

// FileRecord is the catalog's description of one protected file.
type FileRecord struct {
	ID          [16]byte // random; the only name storage servers ever see
	Owner       string   // the owner's email
	Name        string   // the file name the owner chose
	Size        int64    // plaintext bytes
	K, N        int      // threshold and number of shares
	Shares      []ShareSlot
	Protected   time.Time
	LastRenewal time.Time
	Epoch       uint32   // renewal generation of the shares; 0 after protect
	Hash        [32]byte // commitment binding the whole file (the API's hash)
	Chunks      uint32   // number of chunks (at least 1)
}

// ChunkRecord is what retrieval checks one chunk against: the Pedersen
// commitment to its plaintext and the SHA-256 digest of every share chunk,
// index-aligned with FileRecord.Shares.
type ChunkRecord struct {
	Commitment [33]byte
	Digests    [][32]byte
}

// ServerRecord is a storage server the proxy has met, known by its static
// Noise public key.
type ServerRecord struct {
	Key       [32]byte
	Name      string
	Location  string
	FirstSeen time.Time
	LastSeen  time.Time
}

// UserRecord is a user the proxy has seen, known by email.
type UserRecord struct {
	Email     string
	Name      string
	FirstSeen time.Time
	LastSeen  time.Time
}

// Record versions: the first byte of every value. A decoder refuses a version
// it does not know rather than guess.
const (
	fileRecordV1   = 1
	chunkRecordV1  = 1
	serverRecordV1 = 1
	userRecordV1   = 1
)

// maxText bounds every stored string (owner, name, location): far above any
// legitimate value, small enough that a damaged length cannot hurt.
const maxText = 1 << 16

func encodeFile(r *FileRecord) []byte {
	e := encoder{b: make([]byte, 0, 128+len(r.Owner)+len(r.Name)+len(r.Shares)*48)}
	e.byte(fileRecordV1)
	e.fixed(r.ID[:])
	e.string(r.Owner)
	e.string(r.Name)
	e.varint(r.Size)
	e.varint(int64(r.K))
	e.varint(int64(r.N))
	e.uvarint(uint64(len(r.Shares)))
	for _, s := range r.Shares {
		e.varint(int64(s.X))
		e.fixed(s.ServerKey[:])
		e.string(s.ServerName)
	}
	e.time(r.Protected)
	e.time(r.LastRenewal)
	e.uvarint(uint64(r.Epoch))
	e.fixed(r.Hash[:])
	e.uvarint(uint64(r.Chunks))
	return e.b
}

func decodeFile(b []byte) (FileRecord, error) {
	var r FileRecord
	d := decoder{b: b}
	d.version(fileRecordV1)
	d.fixed(r.ID[:])
	r.Owner = d.string("owner", maxText)
	r.Name = d.string("name", maxText)
	r.Size = d.varint()
	r.K = d.int("k")
	r.N = d.int("n")
	// A share slot takes at least 1 (x) + 32 (key) + 1 (name length) bytes.
	if n := d.count("share", 34); n > 0 {
		r.Shares = make([]ShareSlot, n)
		for i := range r.Shares {
			s := &r.Shares[i]
			s.X = d.int("x")
			d.fixed(s.ServerKey[:])
			s.ServerName = d.string("server name", maxText)
		}
	}
	r.Protected = d.time("protected")
	r.LastRenewal = d.time("last renewal")
	r.Epoch = d.uint32("epoch")
	d.fixed(r.Hash[:])
	r.Chunks = d.uint32("chunks")
	if err := d.finish("file"); err != nil {
		return FileRecord{}, err
	}
	return r, nil
}

func encodeChunk(c *ChunkRecord) []byte {
	e := encoder{b: make([]byte, 0, 1+33+2+32*len(c.Digests))}
	e.byte(chunkRecordV1)
	e.fixed(c.Commitment[:])
	e.uvarint(uint64(len(c.Digests)))
	for i := range c.Digests {
		e.fixed(c.Digests[i][:])
	}
	return e.b
}

func decodeChunk(b []byte) (ChunkRecord, error) {
	var c ChunkRecord
	d := decoder{b: b}
	d.version(chunkRecordV1)
	d.fixed(c.Commitment[:])
	if n := d.count("digest", 32); n > 0 {
		c.Digests = make([][32]byte, n)
		for i := range c.Digests {
			d.fixed(c.Digests[i][:])
		}
	}
	if err := d.finish("chunk"); err != nil {
		return ChunkRecord{}, err
	}
	return c, nil
}

func encodeServer(s *ServerRecord) []byte {
	e := encoder{b: make([]byte, 0, 64+len(s.Name)+len(s.Location))}
	e.byte(serverRecordV1)
	e.fixed(s.Key[:])
	e.string(s.Name)
	e.string(s.Location)
	e.time(s.FirstSeen)
	e.time(s.LastSeen)
	return e.b
}

func decodeServer(b []byte) (ServerRecord, error) {
	var s ServerRecord
	d := decoder{b: b}
	d.version(serverRecordV1)
	d.fixed(s.Key[:])
	s.Name = d.string("name", maxText)
	s.Location = d.string("location", maxText)
	s.FirstSeen = d.time("first seen")
	s.LastSeen = d.time("last seen")
	if err := d.finish("server"); err != nil {
		return ServerRecord{}, err
	}
	return s, nil
}

// encodeUser leaves the email out: it is the key.
func encodeUser(u *UserRecord) []byte {
	e := encoder{b: make([]byte, 0, 32+len(u.Name))}
	e.byte(userRecordV1)
	e.string(u.Name)
	e.time(u.FirstSeen)
	e.time(u.LastSeen)
	return e.b
}

func decodeUser(email string, b []byte) (UserRecord, error) {
	u := UserRecord{Email: email}
	d := decoder{b: b}
	d.version(userRecordV1)
	u.Name = d.string("name", maxText)
	u.FirstSeen = d.time("first seen")
	u.LastSeen = d.time("last seen")
	if err := d.finish("user"); err != nil {
		return UserRecord{}, err
	}
	return u, nil
}

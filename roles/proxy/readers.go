package proxy

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/qasmat/qasmat/store"
	"github.com/qasmat/qasmat/webui"
)

// readerWait bounds how long a renewal keeps a file's old epoch for the
// downloads still reading it. A download slower than this fails (never with
// wrong bytes) and can be retried; a renewal must not wait forever on a
// stalled client.
const readerWait = 15 * time.Minute

// epochReaders counts the downloads reading each (file, epoch), so that a
// renewal drops an old epoch's shares only once nobody reads them any more
// (docs/design.md, "Share renewal and expiry").
type epochReaders struct {
	mu   sync.Mutex
	n    map[epochKey]int
	idle map[epochKey]chan struct{} // closed when the count drops to zero
}

type epochKey struct {
	id    [16]byte
	epoch uint32
}

func newEpochReaders() *epochReaders {
	return &epochReaders{n: map[epochKey]int{}, idle: map[epochKey]chan struct{}{}}
}

func (r *epochReaders) acquire(id [16]byte, epoch uint32) func() {
	k := epochKey{id, epoch}
	r.mu.Lock()
	r.n[k]++
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.n[k]--; r.n[k] > 0 {
				return
			}
			delete(r.n, k)
			if ch, ok := r.idle[k]; ok {
				close(ch)
				delete(r.idle, k)
			}
		})
	}
}

// count is the number of downloads reading (id, epoch) now.
func (r *epochReaders) count(id [16]byte, epoch uint32) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n[epochKey{id, epoch}]
}

// wait returns when nobody reads (id, epoch), or false when ctx ends first.
func (r *epochReaders) wait(ctx context.Context, id [16]byte, epoch uint32) bool {
	k := epochKey{id, epoch}
	r.mu.Lock()
	if r.n[k] == 0 {
		r.mu.Unlock()
		return true
	}
	ch, ok := r.idle[k]
	if !ok {
		ch = make(chan struct{})
		r.idle[k] = ch
	}
	r.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// openForRead pins the current epoch of u's file for a download: it returns
// the file's record, every chunk record of that epoch, and the function that
// releases the pin. A renewal that commits meanwhile keeps the pinned
// epoch's shares until release is called.
func (p *Proxy) openForRead(u webui.User, name string) (store.FileRecord, []store.ChunkRecord, func(), error) {
	for attempt := 0; ; attempt++ {
		rec, err := p.catalog.GetFile(u.Email, name)
		if errors.Is(err, store.ErrNotFound) {
			return rec, nil, nil, webui.Errorf(webui.ErrNotFound, "there is no file named %q", name)
		} else if err != nil {
			return rec, nil, nil, err
		}
		// Registered before the chunk records are read: if the records of
		// this epoch are read whole, the renewal's commit (which deletes
		// them in the same batch that moves the epoch) came after, so its
		// cleanup sees this reader.
		release := p.readers.acquire(rec.ID, rec.Epoch)
		chunks := make([]store.ChunkRecord, 0, rec.Chunks)
		err = p.catalog.Chunks(rec.ID, rec.Epoch, func(_ uint32, ch store.ChunkRecord) error {
			chunks = append(chunks, ch)
			return nil
		})
		if err == nil && uint32(len(chunks)) == rec.Chunks {
			return rec, chunks, release, nil
		}
		release()
		// The epoch moved on between the two reads: read again.
		if attempt == 3 {
			if err == nil {
				err = fmt.Errorf("%d of %d chunk records", len(chunks), rec.Chunks)
			}
			return rec, nil, nil, fmt.Errorf("reading the chunk records of %q: %w", name, err)
		}
	}
}

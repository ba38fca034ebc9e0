package storage

import (
	"fmt"
	"os"

	"github.com/qasmat/qasmat/transport/wire"
)

// crashEnv names the test-only hook that makes a storage server exit at a
// point of a renewal (docs/design.md, "Test hook"); it is never set in
// production.
const crashEnv = "QASMAT_TEST_CRASH"

// crashBefore exits before a request is handled, crashAfter after it was
// handled but before the reply leaves: stand-ins for a power cut.
//
//	storage-after-prepare: the prepared epoch was synced (SyncFile of an
//	                       epoch > 0), the proxy never hears it.
//	storage-before-cleanup: the proxy committed the new epoch and asks to
//	                        drop the old one (RenewCommit); nothing is dropped.
func crashBefore(m wire.Message) {
	if _, ok := m.(*wire.RenewCommit); ok {
		crashAt("storage-before-cleanup")
	}
}

func crashAfter(m wire.Message) {
	if sf, ok := m.(*wire.SyncFile); ok && sf.Epoch > 0 {
		crashAt("storage-after-prepare")
	}
}

func crashAt(point string) {
	if os.Getenv(crashEnv) == point {
		fmt.Fprintf(os.Stderr, "%s=%s: exiting at this point (test hook)\n", crashEnv, point)
		os.Exit(99)
	}
}

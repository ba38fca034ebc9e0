package main

import (
	"errors"

	"github.com/urfave/cli/v2"
)

var errNotImplemented = errors.New("not implemented yet")

// roleCommands returns the server roles: proxy, storage, kms-sim, dev, keygen.
func roleCommands() []*cli.Command {
	notYet := func(*cli.Context) error { return errNotImplemented }
	return []*cli.Command{
		{Name: "proxy", Usage: "run the proxy (REST API, dashboard, share distribution)", Action: notYet},
		{Name: "storage", Usage: "run a storage server that keeps shares", Action: notYet},
		{Name: "kms-sim", Usage: "run an ETSI GS QKD 014 key manager simulator", Action: notYet},
		{Name: "dev", Usage: "run a whole local cluster in one process", Action: notYet},
	}
}

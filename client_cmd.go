package main

import (
	"github.com/urfave/cli/v2"

	"github.com/qasmat/qasmat/roles/client"
)

// clientCommands returns the REST API client commands (put, get, ls, ...).
func clientCommands() []*cli.Command { return client.Commands() }

// clientExit maps a client error to its documented exit code and hint.
func clientExit(err error) (code int, hint string, ok bool) { return client.ExitStatus(err) }

package main

import "github.com/urfave/cli/v2"

// clientCommands returns the REST API client commands (put, get, ls, ...).
func clientCommands() []*cli.Command { return nil }

// clientExit maps a client error to its documented exit code and hint.
func clientExit(error) (code int, hint string, ok bool) { return 0, "", false }

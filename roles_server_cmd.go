package main

import "github.com/urfave/cli/v2"

func proxyCommand() *cli.Command {
	return &cli.Command{Name: "proxy", Usage: "run the proxy", Action: func(*cli.Context) error { return errNotImplemented }}
}

func storageCommand() *cli.Command {
	return &cli.Command{Name: "storage", Usage: "run a storage server", Action: func(*cli.Context) error { return errNotImplemented }}
}

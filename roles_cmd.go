package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/qasmat/qasmat/roles/dev"
	"github.com/qasmat/qasmat/roles/proxy"
	"github.com/qasmat/qasmat/transport"
)

var logFlags = []cli.Flag{
	&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{"QASMAT_LOG_LEVEL"}},
	&cli.StringFlag{Name: "log-format", Value: "text", Usage: "text or json", EnvVars: []string{"QASMAT_LOG_FORMAT"}},
}

// newLogger builds the structured logger of a server role (stderr).
func newLogger(c *cli.Context) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usageError{msg: fmt.Sprintf("--log-level: %q is not one of debug, info, warn, error", c.String("log-level"))}
	}
	hopts := &slog.HandlerOptions{Level: level}
	switch c.String("log-format") {
	case "text":
		return slog.New(slog.NewTextHandler(c.App.ErrWriter, hopts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, hopts)), nil
	}
	return nil, usageError{msg: fmt.Sprintf("--log-format: %q is not text or json", c.String("log-format"))}
}

// signalContext ends on SIGINT or SIGTERM: the roles then stop gracefully.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// roleCommands returns the server roles: proxy, storage, kms-sim, dev, keygen.
func roleCommands() []*cli.Command {
	return []*cli.Command{
		proxyCommand(),
		storageCommand(),
		kmsSimCommand(),
		devCommand(),
		{
			Name:      "keygen",
			Usage:     "write a new pre-shared key for a private network (32 random bytes, hex)",
			ArgsUsage: " ",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Usage: "file to write (refuses to overwrite)", Required: true},
			},
			Action: func(c *cli.Context) error {
				if c.Args().Present() {
					return usageError{msg: "keygen takes no arguments; use -o FILE"}
				}
				if err := transport.WritePSK(c.String("out")); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "wrote a pre-shared key to %s; give the same file to the proxy and every storage server\n", c.String("out"))
				return nil
			},
		},
	}
}

func devCommand() *cli.Command {
	return &cli.Command{
		Name:  "dev",
		Usage: "run a whole local cluster in one process: a proxy and storage servers on loopback",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data-dir", Value: "./qasmat-data", Usage: "folder for the cluster's data (kept across restarts)"},
			&cli.IntFlag{Name: "storages", Value: 3, Usage: "number of storage servers"},
			&cli.IntFlag{Name: "port", Value: 3000, Usage: "REST API and dashboard port on 127.0.0.1 (0 picks a free one)"},
			&cli.StringSliceFlag{Name: "allowed-origin", Usage: "CORS origin allowed to use the API (repeatable); none means public mode (*)"},
			&cli.StringFlag{Name: "kms", Usage: "AES or OTP: run a QKD key manager simulator (ETSI GS QKD 014) and seal shares in transit with its keys"},
			&cli.Float64Flag{Name: "kms-rate", Value: dev.DefaultKMSRate, Usage: "with --kms: the simulated QKD link's key rate, bits per second"},
		}, logFlags...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError{msg: "dev takes no arguments"}
			}
			if m := c.String("kms"); m != "" && m != "AES" && m != "OTP" {
				return usageError{msg: fmt.Sprintf("--kms: %q is not AES or OTP", m)}
			}
			if r := c.Float64("kms-rate"); r <= 0 {
				return usageError{msg: fmt.Sprintf("--kms-rate: %v is not a positive number of bits per second", r)}
			}
			if n := c.Int("storages"); n < 2 || n > 64 {
				return usageError{msg: fmt.Sprintf("--storages: %d is not between 2 and 64", n)}
			}
			if p := c.Int("port"); p < 0 || p > 65535 {
				return usageError{msg: fmt.Sprintf("--port: %d is not a TCP port", p)}
			}
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			err = dev.Run(ctx, dev.Options{
				DataDir: c.String("data-dir"), Storages: c.Int("storages"), Port: c.Int("port"),
				KMS: c.String("kms"), KMSRate: c.Float64("kms-rate"),
				Version: version, Logger: log, Out: c.App.Writer,
				Proxy: func(o *proxy.Options) {
					if origins := c.StringSlice("allowed-origin"); len(origins) > 0 {
						o.AllowedOrigins = origins
					}
				},
			})
			if err != nil && isAddrInUse(err) {
				return hintError{err: err, hint: "another program uses that port: stop it or pass --port 0 (or another port)"}
			}
			return err
		},
	}
}

func isAddrInUse(err error) bool { return errors.Is(err, syscall.EADDRINUSE) }

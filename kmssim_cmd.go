package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/qasmat/qasmat/kms"
	"github.com/qasmat/qasmat/roles/kmssim"
)

// kmsSimCommand is `qasmat kms-sim` (serve) and `qasmat kms-sim pki`.
func kmsSimCommand() *cli.Command {
	return &cli.Command{
		Name:  "kms-sim",
		Usage: "run an ETSI GS QKD 014 key manager simulator",
		Description: "Simulates the linked pair of key managers of a QKD link: a key handed to a master SAE\n" +
			"(enc_keys) is fetched once by its slave SAE (dec_keys), then it is gone. HTTPS with client\n" +
			"certificates (the SAE ID is the certificate's CN); write them with `qasmat kms-sim pki`.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:8443", Usage: "address to serve on"},
			&cli.StringFlag{Name: "data-dir", Value: "./qasmat-kms-data", Usage: "folder for the key manager's state (kept across restarts)"},
			&cli.StringFlag{Name: "pki", Usage: "folder written by `qasmat kms-sim pki` (ca.pem, kme.pem, kme-key.pem)"},
			&cli.BoolFlag{Name: "insecure-http", Usage: "plain HTTP on a loopback address, SAE ID in the " + kms.SAEIDHeader + " header (demos only)"},
			&cli.Float64Flag{Name: "rate", Value: 100000, Usage: "key bits produced per second on each SAE pair's link"},
			&cli.IntFlag{Name: "pool-bits", Value: 1 << 20, Usage: "key bits each link's pool holds at most (a new link starts full)"},
			&cli.DurationFlag{Name: "key-lifetime", Value: time.Hour, Usage: "how long a key waits for its slave SAE before it is dropped"},
			&cli.IntFlag{Name: "key-size", Value: 256, Usage: "default key size in bits"},
			&cli.IntFlag{Name: "max-key-size", Value: 65536, Usage: "largest key size in bits"},
			&cli.IntFlag{Name: "max-keys-per-request", Value: 128, Usage: "max_key_per_request"},
		}, logFlags...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError{msg: "kms-sim takes no arguments (did you mean `qasmat kms-sim pki`?)"}
			}
			if c.Float64("rate") < 0 {
				return usageError{msg: "--rate: must not be negative"}
			}
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			err = kmssim.Run(ctx, kmssim.Options{
				Listen: c.String("listen"), PKIDir: c.String("pki"), InsecureHTTP: c.Bool("insecure-http"),
				Sim: kms.SimOptions{
					DataDir: c.String("data-dir"), Rate: c.Float64("rate"), PoolBits: c.Int("pool-bits"),
					KeyLifetime: c.Duration("key-lifetime"), KeySize: c.Int("key-size"),
					MaxKeySize: c.Int("max-key-size"), MaxKeyPerRequest: c.Int("max-keys-per-request"),
				},
				Logger: log, Out: c.App.Writer,
			})
			switch {
			case errors.Is(err, kmssim.ErrNotLoopback):
				return hintError{err: err, hint: "listen on 127.0.0.1, or drop --insecure-http and use certificates (`qasmat kms-sim pki`)"}
			case err != nil && isAddrInUse(err):
				return hintError{err: err, hint: "another program uses that port: stop it or pass another --listen"}
			case err != nil && c.String("pki") == "" && !c.Bool("insecure-http"):
				return hintError{err: err, hint: "run `qasmat kms-sim pki --out DIR --sae proxy --sae s1 ...` first, then `qasmat kms-sim --pki DIR`"}
			}
			return err
		},
		Subcommands: []*cli.Command{{
			Name:      "pki",
			Usage:     "write a CA, the key manager's certificate and one client certificate per SAE (ECDSA P-256)",
			ArgsUsage: " ",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "out", Aliases: []string{"o"}, Required: true, Usage: "folder to write (must not hold a CA yet)"},
				&cli.StringSliceFlag{Name: "sae", Required: true, Usage: "an SAE ID (repeatable): proxy, s1, s2, ..."},
				&cli.StringSliceFlag{Name: "host", Usage: "extra DNS name or IP address of the key manager (repeatable; 127.0.0.1 and localhost are always in)"},
			},
			Action: func(c *cli.Context) error {
				if c.Args().Present() {
					return usageError{msg: "kms-sim pki takes no arguments; use --out DIR --sae ID ..."}
				}
				if err := kms.WritePKI(c.String("out"), c.StringSlice("sae"), c.StringSlice("host")); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "wrote %s, %s and a certificate per SAE (%s) to %s\n", kms.CAFile, kms.KMECertFile, kms.SAECertFile("ID"), c.String("out"))
				return nil
			},
		}},
	}
}

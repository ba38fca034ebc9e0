package main

import (
	"context"
	"net"
	"path/filepath"
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/qasmat/qasmat/roles/proxy"
	"github.com/qasmat/qasmat/roles/storage"
	"github.com/qasmat/qasmat/transport"
	"github.com/qasmat/qasmat/transport/discovery"
)

func proxyCommand() *cli.Command {
	return &cli.Command{
		Name:  "proxy",
		Usage: "run the proxy: REST API, dashboard, and the port storage servers dial",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "proxy config file (JSON, the spec's format); none means the defaults"},
			&cli.StringFlag{Name: "data-dir", Value: "./qasmat-proxy", Usage: "folder for the catalog and the proxy's key"},
			&cli.StringFlag{Name: "client-config", Usage: "file served as the dashboard's config/config.json"},
		}, logFlags...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError{msg: "proxy takes no arguments"}
			}
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			cfg, err := loadProxyConfig(c.String("config"))
			if err != nil {
				return err
			}
			opts := proxy.Options{
				DataDir:         c.String("data-dir"),
				PeerListen:      net.JoinHostPort("", strconv.Itoa(cfg.peerPort)),
				Announce:        cfg.local, // Local mode: storage servers find the proxy by mDNS
				WebListen:       net.JoinHostPort(cfg.bindAddress, strconv.Itoa(cfg.webPort)),
				AllowedOrigins:  cfg.origins,
				TrustedProxies:  cfg.trustedProxies,
				MaxFileSize:     cfg.maxFileSize,
				CheckInterval:   cfg.checking,
				RenewalDuration: cfg.renewal,
				ExpiryDuration:  cfg.expiry,
				Version:         version,
				Logger:          log,
			}
			if cfg.pskPath != "" {
				if opts.PSK, err = transport.LoadPSK(cfg.pskPath); err != nil {
					return err
				}
			}
			if opts.Transit, err = transitLinks(cfg.kms, "proxy"); err != nil {
				return err
			}
			if cfg.kms != nil {
				opts.PeerSAEIDs = cfg.kms.PeerSAEIDs
				log.Info("shares in transit are sealed with QKD keys", "mode", cfg.kms.Mode,
					"key_manager", opts.Transit.Address(), "sae_id", opts.Transit.Self())
			}
			clientCfg := c.String("client-config")
			if clientCfg == "" {
				clientCfg = cfg.clientConfig
			}
			if clientCfg != "" {
				if opts.ClientConfig, err = readSmallFile(clientCfg); err != nil {
					return err
				}
			}
			p, err := proxy.New(opts)
			if err != nil {
				if isAddrInUse(err) {
					return hintError{err: err, hint: "another program uses that port: change web_configuration.bind_port or discovery_mode's proxy_port"}
				}
				return err
			}
			ctx, stop := signalContext()
			defer stop()
			return p.Run(ctx)
		},
	}
}

func storageCommand() *cli.Command {
	return &cli.Command{
		Name:  "storage",
		Usage: "run a storage server that keeps shares and dials the proxy",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "storage config file (JSON, the spec's format)"},
			&cli.StringFlag{Name: "name", Aliases: []string{"n"}, Usage: "this storage server's name, shown by the API (required)"},
			&cli.StringFlag{Name: "data-dir", Usage: "folder for shares and keys (default ./qasmat-storage-NAME)"},
		}, logFlags...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError{msg: "storage takes no arguments"}
			}
			name := c.String("name")
			if name == "" {
				return usageError{msg: "storage needs a name: -n NAME"}
			}
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			cfg, err := loadStorageConfig(c.String("config"))
			if err != nil {
				return err
			}
			dir := c.String("data-dir")
			if dir == "" {
				dir = "./qasmat-storage-" + filepath.Base(name)
			}
			opts := storage.Options{
				Name: name, Location: cfg.location, DataDir: dir,
				ReconnectInterval: cfg.reconnect,
				Version:           version,
				Logger:            log,
			}
			if cfg.local || cfg.proxyAddress == "" {
				// Local mode: find the proxy by mDNS before every dial.
				opts.Discover = func(ctx context.Context, pinned []byte) (string, error) {
					return discovery.Find(ctx, discovery.BrowseOptions{Logger: log}, pinned)
				}
			} else {
				opts.ProxyAddr = net.JoinHostPort(cfg.proxyAddress, strconv.Itoa(cfg.proxyPort))
			}
			if cfg.pskPath != "" {
				if opts.PSK, err = transport.LoadPSK(cfg.pskPath); err != nil {
					return err
				}
			}
			if opts.Transit, err = transitLinks(cfg.kms, name); err != nil {
				return err
			}
			if cfg.kms != nil {
				opts.ProxySAE = cfg.kms.PeerSAEIDs["proxy"]
				log.Info("shares in transit are sealed with QKD keys", "mode", cfg.kms.Mode,
					"key_manager", opts.Transit.Address(), "sae_id", opts.Transit.Self())
			}
			s, err := storage.New(opts)
			if err != nil {
				return err
			}
			defer s.Close()
			ctx, stop := signalContext()
			defer stop()
			return s.Run(ctx)
		},
	}
}

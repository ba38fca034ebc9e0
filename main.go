// Command qasmat runs every role of the Qasmat secure distributed storage
// system (proxy, storage server, key manager simulator, local dev cluster)
// and the command-line client, from one static binary.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/urfave/cli/v2"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

// usageError marks a mistake in the command line itself (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// hintError carries a second line telling the user what to do next.
type hintError struct {
	err  error
	hint string
	code int
}

func (e hintError) Error() string { return e.err.Error() }
func (e hintError) Unwrap() error { return e.err }

func main() {
	os.Exit(run(os.Args, os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit code, so that
// tests can drive the CLI in-process.
func run(args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := app.Run(args)
	if err == nil {
		return 0
	}
	return reportError(stderr, err)
}

// reportError is the one error path of the CLI: "qasmat: error: ..." then an
// optional "qasmat: hint: ...", and the exit code.
func reportError(stderr io.Writer, err error) int {
	code, hint := 1, ""
	var ue usageError
	var he hintError
	var ce cli.ExitCoder
	switch {
	case errors.As(err, &ue):
		code = 2
		hint = "run 'qasmat --help' to see the commands and their flags"
	case errors.As(err, &he):
		hint = he.hint
		if he.code != 0 {
			code = he.code
		}
	case errors.As(err, &ce):
		code = ce.ExitCode()
	}
	if c, h, ok := clientExit(err); ok {
		code, hint = c, h
	}
	fmt.Fprintf(stderr, "qasmat: error: %v\n", err)
	if hint != "" {
		fmt.Fprintf(stderr, "qasmat: hint: %s\n", hint)
	}
	return code
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:                 "qasmat",
		Usage:                "secure distributed storage with Shamir's secret sharing",
		Version:              version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideVersion:          false,
		ExitErrHandler:       func(*cli.Context, error) {},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{msg: err.Error()}
		},
		CommandNotFound: func(c *cli.Context, name string) {
			// Reported through the one error path by the Action below.
		},
		Commands: commands(),
	}
	app.Action = func(c *cli.Context) error {
		if c.Args().Present() {
			return usageError{msg: fmt.Sprintf("unknown command %q", c.Args().First())}
		}
		return cli.ShowAppHelp(c)
	}
	return app
}

func commands() []*cli.Command {
	cmds := []*cli.Command{
		{
			Name:  "version",
			Usage: "print the version of this binary",
			Action: func(c *cli.Context) error {
				fmt.Fprintf(c.App.Writer, "qasmat %s\n", version)
				return nil
			},
		},
	}
	cmds = append(cmds, roleCommands()...)
	cmds = append(cmds, clientCommands()...)
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
				return usageError{msg: err.Error()}
			}
		}
	}
	return cmds
}

package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
)

// DefaultThreshold is k when put is given no -k.
const DefaultThreshold = 3

// Commands returns the client commands (put, get, ls, rm, servers, renew),
// each with its own flags, for the qasmat binary to mount. Flags may come
// before or after the arguments ("qasmat get NAME -o OUT"). On failure,
// including a usage error, they return an *ExitError; the app should set
// ExitErrHandler so that urfave/cli does not exit by itself, and print the
// error and hint given by ExitStatus.
func Commands() []*cli.Command {
	cmds := []*cli.Command{
		{
			Name:      "put",
			Aliases:   []string{"protect"},
			Usage:     "protect a file: split it into shares on the storage servers",
			ArgsUsage: "FILE",
			Description: `Uploads FILE (or standard input with FILE "-" and --name) to the proxy,
which splits it into one share per storage server; any k of them rebuild it.
The file is streamed, never held in memory.`,
			Flags: append([]cli.Flag{
				&cli.IntFlag{Name: "threshold", Aliases: []string{"k"}, Value: DefaultThreshold, Usage: "any `K` storage servers rebuild the file, K-1 learn nothing (2 up to the servers connected)"},
				&cli.StringFlag{Name: "name", Usage: "store the file under `NAME` (default: FILE's base name)"},
				&cli.StringFlag{Name: "servers", Usage: "comma-separated `NAMES` of the storage servers to use (default: all connected)"},
			}, commonFlags()...),
			Action: put,
		},
		{
			Name:      "get",
			Aliases:   []string{"retrieve"},
			Usage:     "retrieve a file",
			ArgsUsage: "NAME",
			Description: `Downloads the file NAME into ./NAME, or into OUT with -o (a folder keeps
the name; "-" writes to standard output). The bytes go to a temporary file
beside the destination, which is renamed only once the whole file arrived
and the proxy confirmed its integrity: a failed transfer leaves no file.
With "-o -" bytes already written cannot be taken back: check the exit code.`,
			Flags: append([]cli.Flag{
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write to `OUT` (a file, a folder, or - for standard output)"},
				&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "overwrite an existing output file"},
			}, commonFlags()...),
			Action: get,
		},
		{
			Name:    "ls",
			Aliases: []string{"list"},
			Usage:   "list your protected files",
			Flags:   commonFlags(),
			Action:  list,
		},
		{
			Name:      "rm",
			Aliases:   []string{"remove"},
			Usage:     "remove a file and its shares",
			ArgsUsage: "NAME",
			Flags:     commonFlags(),
			Action:    remove,
		},
		{
			Name:   "servers",
			Usage:  "list the storage servers and whether they are connected",
			Flags:  commonFlags(),
			Action: servers,
		},
		{
			Name:      "renew",
			Usage:     "renew a file's shares now (proactive secret sharing)",
			ArgsUsage: "NAME",
			Flags:     commonFlags(),
			Action:    renew,
		},
	}
	for _, c := range cmds {
		// Without this urfave/cli adds a "help" (alias "h") subcommand, and
		// "qasmat get h" would print help instead of retrieving the file h.
		c.HideHelpCommand = true
		// urfave/cli v2 stops parsing flags at the first argument, so
		// "qasmat get NAME -o OUT" would leave -o unparsed; parseArgs reads
		// flags anywhere, and "--" before a name that starts with a dash.
		c.SkipFlagParsing = true
		c.Description = strings.TrimSpace(c.Description + "\n\n" + ExitCodesHelp)
	}
	return cmds
}

func commonFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "api", Value: DefaultAPI, EnvVars: []string{"QASMAT_API"}, Usage: "`URL` of the proxy's REST API"},
		&cli.StringFlag{Name: "user", EnvVars: []string{"QASMAT_USER"}, Usage: "user `NAME` sent as X-Remote-User"},
		&cli.StringFlag{Name: "email", EnvVars: []string{"QASMAT_EMAIL"}, Usage: "`EMAIL` sent as X-Remote-Email (identifies you)"},
		&cli.BoolFlag{Name: "json", Usage: "print the API's data as JSON on standard output, for scripts"},
		&cli.DurationFlag{Name: "timeout", Value: DefaultTimeout, EnvVars: []string{"QASMAT_TIMEOUT"}, Usage: "give up when nothing moved for `DURATION` (0: wait forever)"},
	}
}

// session is what one command invocation works with.
type session struct {
	cmd    *cli.Context
	ctx    context.Context
	client *Client
	json   bool
	stdout io.Writer
	stderr io.Writer
	stdin  io.Reader
}

// run wraps a command: it parses flags given after the arguments, checks
// the argument count, builds the client and maps the outcome to an
// *ExitError.
func run(want int, usage string, action func(s *session, args []string) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		args, help, err := parseArgs(c)
		if err != nil {
			return err
		}
		if help {
			cli.HelpPrinter(c.App.Writer, cli.CommandHelpTemplate, c.Command)
			return nil
		}
		if len(args) != want {
			hint := "run 'qasmat " + c.Command.Name + " --help'"
			if want == 0 {
				return usageError(hint, "%s takes no arguments, got %q", c.Command.Name, strings.Join(args, " "))
			}
			return usageError(hint, "usage: qasmat %s %s", c.Command.Name, usage)
		}
		cl, err := New(c.String("api"))
		if err != nil {
			return &ExitError{Code: ExitUsage, Err: fmt.Errorf("--api: %w", err), Hint: "--api takes a URL such as " + DefaultAPI}
		}
		cl.User, cl.Email, cl.Timeout = c.String("user"), c.String("email"), c.Duration("timeout")
		if cl.Timeout < 0 {
			return usageError("", "--timeout must not be negative")
		}
		ctx := c.Context
		if ctx == nil {
			ctx = context.Background()
		}
		// Ctrl-C cancels the transfer so that partial files are cleaned up.
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		s := &session{cmd: c, ctx: ctx, client: cl, json: c.Bool("json"), stdout: c.App.Writer, stderr: c.App.ErrWriter, stdin: c.App.Reader}
		if s.stdout == nil {
			s.stdout = os.Stdout
		}
		if s.stderr == nil {
			s.stderr = os.Stderr
		}
		if s.stdin == nil {
			s.stdin = os.Stdin
		}
		return exitError(action(s, args))
	}
}

// parseArgs separates the positional arguments from the flags, which may
// come before, between or after them, and sets the flags. Everything after
// "--" is an argument.
func parseArgs(c *cli.Context) (args []string, help bool, err error) {
	raw := c.Args().Slice()
	for i := 0; i < len(raw); i++ {
		a := raw[i]
		if a == "--" {
			return append(args, raw[i+1:]...), false, nil
		}
		if len(a) < 2 || a[0] != '-' {
			args = append(args, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := findFlag(c.Command.Flags, name)
		if f == nil {
			return nil, false, usageError("run 'qasmat "+c.Command.Name+" --help' to see its flags", "flag provided but not defined: %s", a)
		}
		if name == "help" || name == "h" {
			return nil, true, nil
		}
		if tv, ok := f.(cli.DocGenerationFlag); ok && !tv.TakesValue() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 >= len(raw) {
				return nil, false, usageError("", "flag needs an argument: %s", a)
			}
			i++
			value = raw[i]
		}
		for _, n := range f.Names() {
			if err := c.Set(n, value); err != nil {
				return nil, false, usageError("", "invalid value %q for flag %s: %v", value, a, err)
			}
		}
	}
	return args, false, nil
}

func findFlag(flags []cli.Flag, name string) cli.Flag {
	for _, f := range flags {
		for _, n := range f.Names() {
			if n == name {
				return f
			}
		}
	}
	return nil
}

var (
	put     = run(1, "FILE", doPut)
	get     = run(1, "NAME", doGet)
	list    = run(0, "", doList)
	remove  = run(1, "NAME", doRemove)
	servers = run(0, "", doServers)
	renew   = run(1, "NAME", doRenew)
)

func doPut(s *session, args []string) error {
	path, name := args[0], s.cmd.String("name")
	var src io.Reader
	size := int64(-1)
	if path == "-" {
		if name == "" {
			return usageError("", `reading standard input ("-") needs --name`)
		}
		src = s.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if st.IsDir() {
			return usageError("", "%s is a folder: put takes a file", path)
		}
		if st.Mode().IsRegular() {
			size = st.Size()
		}
		if name == "" {
			name = filepath.Base(path)
		}
		src = f
	}
	opts := ProtectOptions{Threshold: s.cmd.Int("threshold"), Servers: splitList(s.cmd.String("servers"))}
	if opts.Threshold < 2 {
		return usageError("k is how many storage servers rebuild the file; any k-1 learn nothing", "-k %d: the threshold must be at least 2", opts.Threshold)
	}
	counted := &countingReader{r: src}
	bar := s.progress(size, "put "+name)
	var body io.Reader = counted
	if bar != nil {
		body = io.TeeReader(counted, bar)
	}
	data, err := s.client.Protect(s.ctx, name, body, size, opts)
	bar.done(err == nil)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return &ExitError{Code: ExitConflict, Err: err, Hint: fmt.Sprintf("choose another name with --name, or remove the old file with 'qasmat rm %s'", name)}
		}
		return err
	}
	if s.json {
		return s.printJSON(data)
	}
	_, err = fmt.Fprintf(s.stdout, "protected %s (%s), threshold k=%d\n", name, humanSize(counted.n), opts.Threshold)
	return err
}

func doGet(s *session, args []string) error {
	name, out := args[0], s.cmd.String("output")
	force := s.cmd.Bool("force")
	if out == "-" {
		return s.download(name, func(r io.Reader) (int64, error) { return io.Copy(s.stdout, r) })
	}
	dest := out
	if dest == "" || isDir(dest) {
		if name != filepath.Base(name) || name == "." || name == ".." {
			return usageError("choose the output file with -o", "the file name %q cannot be used as a local file name", name)
		}
		dest = filepath.Join(dest, name)
	}
	if _, err := os.Lstat(dest); err == nil && !force {
		return fmt.Errorf("%w: %s", ErrFileExists, dest)
	}
	var n int64
	err := s.download(name, func(r io.Reader) (int64, error) {
		var err error
		n, err = SaveFile(dest, r, force)
		return n, err
	})
	if err != nil {
		return err
	}
	if s.json {
		return s.printJSON(struct {
			Filename string `json:"filename"`
			Path     string `json:"path"`
			Size     int64  `json:"size"`
		}{name, dest, n})
	}
	_, err = fmt.Fprintf(s.stdout, "retrieved %s -> %s (%s, integrity verified)\n", name, dest, humanSize(n))
	return err
}

// download retrieves name and hands its verified stream to write.
func (s *session) download(name string, write func(io.Reader) (int64, error)) error {
	dl, err := s.client.Retrieve(s.ctx, name)
	if err != nil {
		return err
	}
	defer dl.Close()
	bar := s.progress(dl.Size, "get "+name)
	var r io.Reader = dl
	if bar != nil {
		r = io.TeeReader(dl, bar)
	}
	_, err = write(r)
	bar.done(err == nil)
	if err != nil && !errors.Is(err, ErrBrokenTransfer) && !errors.Is(err, ErrIntegrity) && !errors.Is(err, ErrFileExists) {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return err
}

func doList(s *session, _ []string) error {
	l, err := s.client.Files(s.ctx)
	if err != nil {
		return err
	}
	if s.json {
		return s.printJSON(l.Raw)
	}
	return writeFileTable(s.stdout, l)
}

func doServers(s *session, _ []string) error {
	st, err := s.client.Storage(s.ctx)
	if err != nil {
		return err
	}
	if s.json {
		return s.printJSON(st.Raw)
	}
	return writeServerTable(s.stdout, st)
}

func doRemove(s *session, args []string) error {
	data, err := s.client.Remove(s.ctx, args[0])
	if err != nil {
		return err
	}
	if s.json {
		return s.printJSON(data)
	}
	_, err = fmt.Fprintf(s.stdout, "removed %s\n", args[0])
	return err
}

func doRenew(s *session, args []string) error {
	data, err := s.client.Renew(s.ctx, args[0])
	if err != nil {
		if errors.Is(err, ErrNoRoute) {
			return &ExitError{Code: ExitGeneral, Err: err, Hint: "this proxy does not offer renewal on demand (it renews on its own schedule); update it, or check --api"}
		}
		return err
	}
	if s.json {
		return s.printJSON(data)
	}
	_, err = fmt.Fprintf(s.stdout, "renewed %s\n", args[0])
	return err
}

// printJSON writes v as one line of JSON, the easiest form for jq and line
// tools; raw API data is passed through compacted, so fields this client
// does not know are kept.
func (s *session) printJSON(v any) error {
	var buf bytes.Buffer
	if raw, ok := v.(json.RawMessage); ok {
		if err := json.Compact(&buf, raw); err != nil {
			return fmt.Errorf("%w: data is not valid JSON: %v", ErrNotAPI, err)
		}
	} else {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	buf.WriteByte('\n')
	_, err := s.stdout.Write(buf.Bytes())
	return err
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

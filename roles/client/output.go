package client

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// humanSize writes a byte count in binary units: "512 B", "1.5 KiB", "200.0 MiB".
func humanSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// humanDate writes a date in local time to the minute; "-" when unknown.
func humanDate(t Timestamp) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func writeFileTable(w io.Writer, l *FileList) error {
	if len(l.Files) == 0 {
		_, err := fmt.Fprintf(w, "no files (storage used: %.1f%%)\n", l.Percentage)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSIZE\tK/N\tPROTECTED\tLAST RENEWAL\tSTATUS")
	var total int64
	for _, f := range l.Files {
		status := "ok"
		if f.Expired {
			status = "EXPIRED"
		}
		n := strconv.Itoa(f.N)
		if f.N == 0 {
			n = strconv.Itoa(len(f.StorageServers))
		}
		fmt.Fprintf(tw, "%s\t%s\t%d/%s\t%s\t%s\t%s\n", f.Filename, humanSize(f.Size), f.K, n,
			humanDate(f.DateOfProtection), humanDate(f.LastRenewal), status)
		total += f.Size
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d %s, %s; storage used: %.1f%%\n", len(l.Files), plural(len(l.Files), "file", "files"), humanSize(total), l.Percentage)
	return err
}

func writeServerTable(w io.Writer, s *Storage) error {
	if len(s.Servers) == 0 {
		_, err := fmt.Fprintln(w, "no storage servers known to the proxy")
		return err
	}
	at := func(list []string, i int) string {
		if i < len(list) && list[i] != "" {
			return list[i]
		}
		return "-"
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOST\tLOCATION\tPING\tSTATUS")
	connected := 0
	for i, name := range s.Servers {
		up := s.Connected == nil || (i < len(s.Connected) && s.Connected[i])
		status, ping := "connected", "-"
		if !up {
			status = "DISCONNECTED"
		} else {
			connected++
			if i < len(s.Pings) && s.Pings[i] >= 0 {
				ping = humanPing(s.Pings[i])
			}
		}
		if s.Connected == nil {
			status = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", name, at(s.Hosts, i), at(s.Locations, i), ping, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var err error
	if s.Connected == nil {
		_, err = fmt.Fprintf(w, "%d storage %s\n", len(s.Servers), plural(len(s.Servers), "server", "servers"))
	} else {
		_, err = fmt.Fprintf(w, "%d of %d storage servers connected\n", connected, len(s.Servers))
	}
	return err
}

func humanPing(ms float64) string {
	if ms < 10 {
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 0, 64) + " ms"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// isTerminal tells whether w is a terminal; a variable so that tests can
// pretend.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar draws transfer progress on standard error; a nil
// *progressBar draws nothing.
type progressBar struct{ *progressbar.ProgressBar }

// progress returns a bar for a transfer of size bytes (-1: unknown), or nil
// when standard error is not a terminal or the output is JSON: progress is
// for people, and must never mix with what scripts read.
func (s *session) progress(size int64, desc string) *progressBar {
	if s.json || !isTerminal(s.stderr) {
		return nil
	}
	if size <= 0 {
		size = -1
	}
	stderr := s.stderr
	return &progressBar{progressbar.NewOptions64(size,
		progressbar.OptionSetDescription(desc),
		progressbar.OptionSetWriter(stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionShowTotalBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowCount(),
		progressbar.OptionSpinnerType(14),
		progressbar.OptionFullWidth(),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(stderr) }),
	)}
}

// Write implements io.Writer for io.TeeReader.
func (b *progressBar) Write(p []byte) (int, error) {
	_ = b.Add(len(p))
	return len(p), nil
}

// done ends the bar: full on success, left where it stopped on failure.
func (b *progressBar) done(ok bool) {
	if b == nil {
		return
	}
	if ok && b.GetMax64() > 0 {
		_ = b.Finish()
		return
	}
	_ = b.Exit()
}

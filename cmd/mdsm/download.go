package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"

	"mdsm/data"
)

func init() {
	register(command{name: "download", summary: "download mnist, fashion-mnist or cifar10 (sha256-verified, resumable)", run: runDownload})
}

// downloadable lists the names data.Download accepts.
func downloadable() []string {
	var names []string
	for _, s := range data.Sources() {
		names = append(names, s.Name)
	}
	return names
}

func runDownload(args []string) error {
	fs := flag.NewFlagSet("mdsm download", flag.ContinueOnError)
	dir := fs.String("data-dir", data.DefaultDataDir(), "directory to download into ($MDSM_DATA overrides the default)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), `Usage: mdsm download [--data-dir DIR] NAME...

Downloads datasets from their public mirrors into DIR/NAME, verifying every file's sha256.
An interrupted download resumes where it stopped. NAME: %s.

Flags:
`, strings.Join(downloadable(), ", "))
		fs.PrintDefaults()
	}
	if err := parseArgsList(fs, args, "a dataset NAME to download"); err != nil {
		return err
	}
	names := fs.Args()
	for _, n := range names {
		if !slices.Contains(data.Names()[1:], n) {
			return fmt.Errorf("mdsm download: unknown dataset %q (want one of %s)", n, strings.Join(data.Names()[1:], ", "))
		}
	}
	ctx, cancel := interruptible()
	defer cancel()
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "downloading %s into %s\n", n, *dir)
		if err := data.Download(ctx, n, *dir, data.ProgressBar(os.Stderr)); err != nil {
			return err
		}
	}
	return nil
}

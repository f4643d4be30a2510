package main

import (
	"flag"
	"fmt"
	"os"
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
	var names []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		names = append(names, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(names) == 0 {
		fs.Usage()
		return fmt.Errorf("name a dataset to download")
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

package tui

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTUIImports: the workbench talks to core only. No non-test file of tui or its
// subpackages imports mdsm/nn, mdsm/data or mdsm/internal/... (core imports them; the
// workbench reaches runs, weights and data through core).
func TestTUIImports(t *testing.T) {
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if p == "mdsm/nn" || p == "mdsm/data" || strings.HasPrefix(p, "mdsm/nn/") || strings.HasPrefix(p, "mdsm/internal/") {
				t.Errorf("%s imports %s: the workbench must go through core", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

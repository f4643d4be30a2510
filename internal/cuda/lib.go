package cuda

import (
	"fmt"
	"runtime"
	"unsafe"

	"github.com/ebitengine/purego"
)

// dlopen opens a shared library with symbols resolved now, so that a broken library fails
// here rather than at its first call.
func dlopen(path string) (uintptr, error) {
	return purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
}

// binder registers C functions of one library into Go function variables, remembering
// the first missing symbol instead of panicking (purego.RegisterLibFunc panics on one): a
// library too old for a call is an error naming the call.
type binder struct {
	lib  string
	path string
	h    uintptr
	err  error
}

// fn binds the C function name to *fptr (a pointer to a func variable).
func (b *binder) fn(fptr any, name string) {
	if b.err != nil {
		return
	}
	sym, err := purego.Dlsym(b.h, name)
	if err != nil || sym == 0 {
		b.err = fmt.Errorf("%s at %s has no %s: it is too old for mdsm; install a newer one", b.lib, b.path, name)
		return
	}
	purego.RegisterFunc(fptr, sym)
}

// cstring returns a NUL-terminated copy of s.
func cstring(s string) []byte { return append([]byte(s), 0) }

// goString reads a NUL-terminated C string of at most n bytes from b.
func goString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// cstringArray builds a C array of C strings (char**) over Go memory. The strings and the
// array are pinned until the returned unpin is called: C must not see Go memory move.
func cstringArray(ss []string) (arr unsafe.Pointer, unpin func()) {
	if len(ss) == 0 {
		return nil, func() {}
	}
	var p runtime.Pinner
	ptrs := make([]*byte, len(ss))
	for i, s := range ss {
		b := cstring(s)
		p.Pin(&b[0])
		ptrs[i] = &b[0]
	}
	p.Pin(&ptrs[0])
	return unsafe.Pointer(&ptrs[0]), p.Unpin
}
